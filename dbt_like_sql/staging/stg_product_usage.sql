-- Daily usage aggregates (one row per account, day, product feature and event type), cleaned like product events:
-- valid event types only, feature names trimmed and lower-cased (any vocabulary), rows with a zero count dropped
-- (a day on which a feature was not used is no activity). A view, like stg_product_events: readers filter by
-- week_start, which DuckDB pushes down to raw.
-- materialized: view
with source as (

    select * from raw.product_usage

),

renamed as (

    select
        account_id,
        usage_date,
        lower(trim(feature_name)) as feature_name,
        lower(event_type) as event_type,
        usage_count,
        duration_seconds,
        cast(active_users as integer) as active_users,
        week_start
    from source
    where lower(event_type) in ('login', 'feature_use', 'api_call', 'export', 'invite')
      and usage_count > 0
      and usage_date >= week_start
      and usage_date < week_start + interval 7 days

)

select * from renamed
