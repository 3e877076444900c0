-- Point-in-time account features for one week: every active account in the week-end CRM snapshot gets a row.
-- Only data visible at the end of the week is used (weeks <= this week).
-- Segments must describe sustained behaviour, not whether an account logged in this week. Where most accounts
-- are active every week (at least 75 % of the active account-weeks of the last 8 weeks), a quiet week IS the
-- signal (an account going dormant) and the usage features are this week's values. Where activity is sparse
-- (a quarter or more of account-weeks quiet), they are recency-weighted means over the account's ACTIVE weeks
-- among the 12 weeks up to this one (weight 0.1 ^ age in weeks: when active this week, this week decides; a
-- quiet week keeps the last known level). has_activity, active_week_share_8w and weeks_since_active say
-- whether and how often the account was active; accounts with no activity get explicit zeros.
with accounts as (

    select * from staging.stg_crm_accounts
    where week_start = $week_start and is_active

),

usage as (

    select * from intermediate.int_account_weekly_usage
    where week_start = $week_start

),

usage_history as (

    select
        account_id,
        avg(weekly_active_users) as wau_mean_4w,
        avg(events_total) as events_mean_4w
    from intermediate.int_account_weekly_usage
    where week_start >= cast($week_start as date) - interval 28 days
      and week_start < $week_start
    group by account_id

),

active_weeks as (

    select
        account_id,
        weekly_active_users,
        active_days,
        feature_breadth,
        key_feature_adoption,
        exports,
        invites,
        api_calls / events_total as api_share,
        datediff('day', week_start, cast($week_start as date)) // 7 as age,
        pow(0.1, datediff('day', week_start, cast($week_start as date)) // 7) as w
    from intermediate.int_account_weekly_usage
    where week_start > cast($week_start as date) - interval 84 days
      and week_start <= $week_start
      and events_total > 0

),

sustained as (

    -- rounded to 9 decimals: a weighted mean of equal values must equal them (7 active days, not 7.000000000000001)
    select
        account_id,
        round(sum(w * weekly_active_users) / sum(w), 9) as weekly_active_users,
        round(sum(w * active_days) / sum(w), 9) as active_days,
        round(sum(w * feature_breadth) / sum(w), 9) as feature_breadth,
        round(sum(w * key_feature_adoption) / sum(w), 9) as key_feature_adoption,
        round(sum(w * api_share) / sum(w), 9) as api_share,
        round(sum(w * exports) / sum(w), 9) as exports,
        round(sum(w * invites) / sum(w), 9) as invites,
        avg(weekly_active_users) as wau_mean_12w,
        count(*) as active_weeks_12w,
        count(*) filter (where age < 8) as active_weeks_8w
    from active_weeks
    group by account_id

),

last_active as (

    select account_id, max(week_start) as last_active_week
    from intermediate.int_account_weekly_usage
    where week_start <= $week_start and events_total > 0
    group by account_id

),

company_activity as (

    -- share of active-account-weeks with any product activity over the last 8 weeks (1.0 before any data)
    select coalesce(avg(case when u.account_id is null then 0.0 else 1.0 end), 1.0) < 0.75 as sparse_activity
    from staging.stg_crm_accounts as c
    left join intermediate.int_account_weekly_usage as u
        on u.account_id = c.account_id and u.week_start = c.week_start and u.events_total > 0
    where c.is_active
      and c.week_start > cast($week_start as date) - interval 56 days
      and c.week_start <= $week_start

),

vocabulary as (

    select coalesce(max(feature_vocabulary), 0) as feature_vocabulary
    from intermediate.int_account_weekly_usage
    where week_start = $week_start

),

support as (

    select * from intermediate.int_account_weekly_support
    where week_start = $week_start

),

joined as (

    select
        a.account_id,
        a.week_start,
        ca.sparse_activity,
        case when ca.sparse_activity then coalesce(su.weekly_active_users, 0.0)
            else coalesce(u.weekly_active_users, 0) end as weekly_active_users,
        case when ca.sparse_activity then coalesce(su.active_days, 0.0)
            else coalesce(u.active_days, 0) end as active_days,
        coalesce(u.logins, 0) as logins,
        coalesce(u.events_total, 0) as events_total,
        case when ca.sparse_activity then coalesce(su.feature_breadth, 0.0)
            else coalesce(u.feature_breadth, 0) end as feature_breadth,
        v.feature_vocabulary,
        case when ca.sparse_activity then coalesce(su.key_feature_adoption, 0.0)
            else coalesce(u.key_feature_adoption, 0.0) end as key_feature_adoption,
        coalesce(u.api_calls, 0) as api_calls,
        case when ca.sparse_activity then coalesce(su.api_share, 0.0)
            when coalesce(u.events_total, 0) > 0 then u.api_calls / u.events_total
            else 0.0 end as api_share,
        case when ca.sparse_activity then coalesce(su.exports, 0.0) else coalesce(u.exports, 0) end as exports,
        case when ca.sparse_activity then coalesce(su.invites, 0.0) else coalesce(u.invites, 0) end as invites,
        su.wau_mean_12w,
        h.wau_mean_4w,
        coalesce(su.active_weeks_12w, 0) as active_weeks_12w,
        coalesce(su.active_weeks_8w, 0) / 8.0 as active_week_share_8w,
        cast(least(coalesce(datediff('day', la.last_active_week, cast($week_start as date)) // 7, 52), 52)
            as integer) as weeks_since_active,
        h.events_mean_4w,
        coalesce(s.tickets_opened, 0) as tickets_opened,
        coalesce(s.p1_tickets, 0) as p1_tickets,
        coalesce(s.tickets_4w, 0) as tickets_4w,
        coalesce(s.p1_tickets_4w, 0) as p1_tickets_4w,
        coalesce(s.median_resolution_hours, 0.0) as median_resolution_hours,
        coalesce(s.csat_avg, 4.0) as csat_avg,
        coalesce(s.open_backlog, 0) as open_backlog,
        coalesce(a.seats, 0) as seats,
        coalesce(a.mrr, 0.0) as mrr,
        a.plan,
        a.signup_date,
        a.renewal_date,
        a.industry,
        a.employee_band,
        a.region,
        a.account_manager_id,
        u.account_id is not null as has_activity
    from accounts as a
    left join usage as u using (account_id)
    left join usage_history as h using (account_id)
    left join sustained as su using (account_id)
    left join last_active as la using (account_id)
    left join support as s using (account_id)
    cross join company_activity as ca
    cross join vocabulary as v

),

derived as (

    select
        *,
        case
            -- sparse: recent (recency-weighted) vs the plain mean over the active weeks of the 12-week window
            when sparse_activity then
                case when active_weeks_12w >= 2 and wau_mean_12w > 0 then weekly_active_users / wau_mean_12w - 1
                    else 0.0 end
            -- dense: this week vs the mean of the previous 4 weeks
            when coalesce(wau_mean_4w, 0) > 0 then weekly_active_users / wau_mean_4w - 1
            else 0.0
        end as wau_trend,
        case when coalesce(events_mean_4w, 0) > 0 then events_total / events_mean_4w - 1 else 0.0 end
            as events_trend,
        least(weekly_active_users / greatest(seats, 1), 1.5) as seat_utilisation,
        cast(floor(datediff('day', signup_date, cast($week_end as date)) / 7) as integer) as tenure_weeks,
        cast(floor(datediff('day', cast($week_end as date), renewal_date) / 7) as integer) as weeks_to_renewal
    from joined

),

final as (

    select
        account_id,
        week_start,
        weekly_active_users,
        active_days,
        logins,
        events_total,
        feature_breadth,
        key_feature_adoption,
        api_calls,
        api_share,
        exports,
        invites,
        active_week_share_8w,
        weeks_since_active,
        wau_trend,
        events_trend,
        tickets_opened,
        p1_tickets,
        tickets_4w,
        p1_tickets_4w,
        median_resolution_hours,
        csat_avg,
        open_backlog,
        seats,
        seat_utilisation,
        mrr,
        plan,
        tenure_weeks,
        weeks_to_renewal,
        100 * (
            0.25 * least(feature_breadth / greatest(feature_vocabulary, 1), 1.0)
            + 0.25 * key_feature_adoption
            + 0.25 * active_days / 7.0
            + 0.25 * least(seat_utilisation, 1.0)
        ) as activation_score,
        100 * (1 - exp(-(
            (tickets_opened + 3 * p1_tickets + 0.5 * open_backlog) / sqrt(greatest(seats, 1))
            + least(median_resolution_hours / 72.0, 1.0)
        ))) as support_load_score,
        has_activity,
        industry,
        employee_band,
        region,
        account_manager_id
    from derived

)

select * from final
order by account_id
