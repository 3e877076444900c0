-- The CRM snapshot taken at the end of the week, typed, one row per account.
with source as (

    select * from raw.crm_accounts
    where week_start = $week_start

),

renamed as (

    select
        account_id,
        account_name,
        industry,
        employee_band,
        region,
        lower(plan) as plan,
        cast(seats as integer) as seats,
        cast(mrr as double) as mrr,
        cast(signup_date as date) as signup_date,
        cast(renewal_date as date) as renewal_date,
        account_manager_id,
        account_manager_name,
        account_manager_email,
        lower(status) as status,
        lower(status) = 'active' as is_active,
        cast($week_start as date) as week_start
    from source

)

select * from renamed
order by account_id
