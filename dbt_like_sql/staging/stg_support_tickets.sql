-- Every ticket's latest known state as of the week's end (exports deliver one row per create/update).
-- Point-in-time: versions updated after the week's end are invisible; closed tickets older than 12 weeks drop out.
with source as (

    select * from raw.support_tickets
    where week_start <= $week_start
      and updated_at < $week_end

),

latest as (

    select *
    from source
    qualify row_number() over (partition by ticket_id order by updated_at desc, week_start desc) = 1

),

final as (

    select
        ticket_id,
        account_id,
        created_at,
        updated_at,
        case when resolved_at < $week_end then resolved_at end as resolved_at,
        upper(priority) as priority,
        lower(category) as category,
        lower(status) as status,
        csat,
        cast($week_start as date) as week_start
    from latest
    where created_at >= cast($week_end as timestamptz) - interval 84 days
       or lower(status) in ('open', 'pending')

)

select * from final
order by ticket_id
