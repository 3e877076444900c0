-- Support load per account as of the week's end: new tickets, P1s, open backlog, resolution speed and CSAT.
with tickets as (

    select * from staging.stg_support_tickets
    where week_start = $week_start

),

final as (

    select
        account_id,
        cast($week_start as date) as week_start,
        cast(count(*) filter (where created_at >= $week_start) as integer) as tickets_opened,
        cast(count(*) filter (where created_at >= $week_start and priority = 'P1') as integer) as p1_tickets,
        cast(count(*) filter (where created_at >= cast($week_end as timestamptz) - interval 28 days) as integer)
            as tickets_4w,
        cast(count(*) filter (
            where created_at >= cast($week_end as timestamptz) - interval 28 days and priority = 'P1'
        ) as integer) as p1_tickets_4w,
        cast(count(*) filter (where status in ('open', 'pending')) as integer) as open_backlog,
        median(epoch(resolved_at - created_at) / 3600.0) filter (
            where resolved_at >= cast($week_end as timestamptz) - interval 28 days
        ) as median_resolution_hours,
        avg(csat) filter (where csat is not null) as csat_avg,
        cast(count(csat) as integer) as csat_responses
    from tickets
    group by account_id

)

select * from final
order by account_id
