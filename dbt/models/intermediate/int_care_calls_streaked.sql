-- One row per AI care call with the resident's district on the call date and the length of the
-- run of consecutive unanswered calls ending at this call (0 for an answered call).
with

calls as (

    select * from {{ ref('stg_silver__care_calls') }}

),

versions as (

    select * from {{ ref('int_resident_versions_coded') }}

),

current_versions as (

    select
        resident_key,
        district_code
    from versions
    where is_current

),

runs as (

    select
        *,
        sum(case when coalesce(is_answered, false) then 1 else 0 end) over (
            partition by resident_key
            order by scheduled_at, call_id
            rows between unbounded preceding and current row
        ) as answered_run_id
    from calls

),

streaked as (

    select
        *,
        sum(case when coalesce(is_answered, false) then 0 else 1 end) over (
            partition by resident_key, answered_run_id
            order by scheduled_at, call_id
            rows between unbounded preceding and current row
        ) as unanswered_streak
    from runs

),

final as (

    select
        streaked.call_id,
        streaked.resident_key,
        coalesce(versions.district_code, current_versions.district_code) as district_code,
        streaked.call_date,
        streaked.scheduled_at,
        streaked.started_at,
        coalesce(streaked.is_answered, false) as is_answered,
        streaked.escalation,
        coalesce(streaked.escalation, 'none') != 'none' as is_escalated,
        streaked.unanswered_streak,
        streaked.unanswered_streak
        = {{ var('home_visit_unanswered_streak') }} as reaches_unanswered_streak_3
    from streaked
    left join versions
        on
            streaked.resident_key = versions.resident_key
            and streaked.call_date >= versions.valid_from
            and streaked.call_date < versions.valid_until
    left join current_versions
        on streaked.resident_key = current_versions.resident_key

)

select * from final
