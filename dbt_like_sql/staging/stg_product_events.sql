-- Product events of one week, cleaned: valid event types only, UTC date derived, feature names lower-cased.
with source as (

    select * from raw.product_events
    where week_start = $week_start
      and event_ts >= $week_start
      and event_ts < $week_end

),

renamed as (

    select
        event_id,
        account_id,
        user_id,
        lower(event_type) as event_type,
        lower(feature_name) as feature_name,
        event_ts,
        cast(timezone('UTC', event_ts) as date) as event_date,
        cast($week_start as date) as week_start
    from source
    where lower(event_type) in ('login', 'feature_use', 'api_call', 'export', 'invite')

)

select * from renamed
