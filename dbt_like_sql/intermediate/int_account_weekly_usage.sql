-- Usage per account and week, from raw events and daily per-feature usage aggregates alike: events are first folded
-- into (account, day, feature, event type, count) rows, the daily aggregates are unioned in, and every column is
-- computed from that one shape, so either export gives the same features. Exceptions, by necessity: distinct users
-- come from events (count of user ids) or, for daily aggregates, from the largest active_users of any row of the
-- week (a lower bound; NULL when the export has no user counts), and only daily aggregates carry durations.
with events as (

    select * from staging.stg_product_events
    where week_start = $week_start

),

daily_usage as (

    select * from staging.stg_product_usage
    where week_start = $week_start

),

folded as (

    select
        account_id,
        event_date as usage_date,
        feature_name,
        event_type,
        count(*) as usage_count,
        cast(null as double) as duration_seconds
    from events
    group by account_id, event_date, feature_name, event_type
    union all
    select account_id, usage_date, feature_name, event_type, usage_count, duration_seconds
    from daily_usage

),

event_users as (

    select account_id, count(distinct user_id) as users
    from events
    group by account_id

),

usage_users as (

    select account_id, max(active_users) as users
    from daily_usage
    group by account_id

),

key_features as (

    select feature_name from intermediate.int_key_features
    where week_start = $week_start

),

vocabulary as (

    -- distinct product feature names used by any account in the 4 weeks up to the week's end
    select count(distinct feature_name) as feature_vocabulary
    from intermediate.int_feature_usage
    where week_start >= cast($week_start as date) - interval 21 days
      and week_start <= $week_start
      and event_type = 'feature_use'
      and feature_name is not null

),

aggregated as (

    select
        f.account_id,
        bit_count(bit_or(cast(1 as bigint) << (isodow(f.usage_date) - 1))) as active_days,
        sum(f.usage_count) filter (where f.event_type = 'login') as logins,
        sum(f.usage_count) as events_total,
        count(distinct f.feature_name) filter (where f.event_type = 'feature_use') as feature_breadth,
        count(distinct k.feature_name) as key_features_used,
        sum(f.usage_count) filter (where f.event_type = 'api_call') as api_calls,
        sum(f.usage_count) filter (where f.event_type = 'export') as exports,
        sum(f.usage_count) filter (where f.event_type = 'invite') as invites,
        sum(f.duration_seconds) as usage_seconds
    from folded as f
    left join key_features as k
        on f.event_type = 'feature_use' and f.feature_name = k.feature_name
    group by f.account_id

),

final as (

    select
        a.account_id,
        cast($week_start as date) as week_start,
        cast(case
            when e.users is null and u.users is null then null
            else greatest(coalesce(e.users, 0), coalesce(u.users, 0))
        end as integer) as weekly_active_users,
        cast(a.active_days as integer) as active_days,
        cast(coalesce(a.logins, 0) as integer) as logins,
        cast(a.events_total as integer) as events_total,
        cast(a.feature_breadth as integer) as feature_breadth,
        coalesce(a.key_features_used / nullif(cast((select count(*) from key_features) as double), 0), 0.0)
            as key_feature_adoption,
        cast(coalesce(a.api_calls, 0) as integer) as api_calls,
        cast(coalesce(a.exports, 0) as integer) as exports,
        cast(coalesce(a.invites, 0) as integer) as invites,
        a.usage_seconds,
        case
            when e.users is not null then 'events'
            when u.users is not null then 'daily_active_users_max'
        end as weekly_active_users_basis,
        cast(v.feature_vocabulary as integer) as feature_vocabulary
    from aggregated as a
    left join event_users as e using (account_id)
    left join usage_users as u using (account_id)
    cross join vocabulary as v

)

select * from final
order by account_id
