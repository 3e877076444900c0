-- The week's key features (key_feature_adoption is the share of them an account used): the configured names
-- (raw.feature_rules, from SEG_KEY_FEATURES) when at least one of them occurs in the 4 weeks up to the week's end;
-- when none does, the top-N product features by usage over those 4 weeks (SEG_KEY_FEATURES_TOP_N, ties by name;
-- 4 when the week has no recorded rules). Point-in-time: only this week and the 3 before it are read.
with rules as (

    select * from raw.feature_rules
    where week_start = $week_start

),

recent as (

    select
        feature_name,
        sum(usage_count) as usage_count
    from intermediate.int_feature_usage
    where week_start >= cast($week_start as date) - interval 21 days
      and week_start <= $week_start
      and event_type = 'feature_use'
      and feature_name is not null
    group by feature_name

),

ranked as (

    select
        feature_name,
        usage_count,
        row_number() over (order by usage_count desc, feature_name) as usage_rank
    from recent

),

configured as (

    select distinct unnest(key_features) as feature_name
    from rules

),

configured_in_use as (

    -- count(*) > 0 rather than exists(...): Spark allows EXISTS only in filters, and this reads the same everywhere
    select count(*) > 0 as applies
    from ranked as r
    inner join configured as c on r.feature_name = c.feature_name

),

chosen as (

    select feature_name, 'configured' as rule
    from configured
    where (select applies from configured_in_use)
    union all
    select feature_name, 'top_usage' as rule
    from ranked
    where usage_rank <= coalesce((select max(key_features_top_n) from rules), 4)
      and not (select applies from configured_in_use)

),

final as (

    select
        cast($week_start as date) as week_start,
        c.feature_name,
        c.rule,
        cast(r.usage_rank as integer) as usage_rank,
        cast(coalesce(r.usage_count, 0) as bigint) as usage_count_4w
    from chosen as c
    left join ranked as r on c.feature_name = r.feature_name

)

select * from final
order by usage_rank nulls last, feature_name
