-- Product events, cleaned: valid event types only, UTC date derived, feature names trimmed and lower-cased (any
-- vocabulary). A view (as dbt staging models usually are): the loader already keeps every event inside its week,
-- and readers filter by week_start, which DuckDB pushes down to raw, so ten million events a week are not copied
-- a second time.
-- materialized: view
with source as (

    select * from raw.product_events

),

renamed as (

    select
        event_id,
        account_id,
        user_id,
        lower(event_type) as event_type,
        lower(trim(feature_name)) as feature_name,
        event_ts,
        cast(timezone('UTC', event_ts) as date) as event_date,
        week_start
    from source
    where lower(event_type) in ('login', 'feature_use', 'api_call', 'export', 'invite')
      and event_ts >= week_start
      and event_ts < week_start + interval 7 days

)

select * from renamed
