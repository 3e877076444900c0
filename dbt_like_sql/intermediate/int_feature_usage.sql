-- Product activity per feature name and event type in one week, from raw events and daily usage aggregates alike:
-- the company's own feature vocabulary, whatever its size (usage count, accounts, source rows of each shape).
-- The key-feature rule and the activation score's breadth normalisation read its trailing weeks.
with events as (

    select * from staging.stg_product_events
    where week_start = $week_start

),

daily_usage as (

    select * from staging.stg_product_usage
    where week_start = $week_start

),

combined as (

    select account_id, feature_name, event_type, cast(1 as bigint) as usage_count, true as is_event
    from events
    union all
    select account_id, feature_name, event_type, usage_count, false as is_event
    from daily_usage

),

final as (

    select
        cast($week_start as date) as week_start,
        feature_name,
        event_type,
        cast(sum(usage_count) as bigint) as usage_count,
        cast(count(distinct account_id) as integer) as accounts,
        cast(count(*) filter (where is_event) as bigint) as event_rows,
        cast(count(*) filter (where not is_event) as bigint) as usage_rows
    from combined
    group by feature_name, event_type

)

select * from final
order by event_type, feature_name
