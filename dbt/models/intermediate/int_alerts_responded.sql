-- One row per risk alert with what happened next. There is no action log yet, so the response is
-- derived from what is recorded: the alert is raised at 04:00 KST on its score date (the
-- provincial analysis time); the next AI call is the first call scheduled at or after that moment
-- (answered or not); the first answered contact is the first answered call from then on; the
-- visit is the first home visit from then on. Resolution is the earlier of the first answered
-- contact and the visit; an alert with neither stays unresolved (null).
with

alerts as (

    select
        *,
        to_timestamp(concat(cast(score_date as string), ' 04:00:00')) as alerted_at
    from {{ ref('stg_gold__risk_alerts') }}

),

calls as (

    select * from {{ ref('int_care_calls_streaked') }}

),

visits as (

    select * from {{ ref('stg_silver__visit_outcomes') }}

),

scores as (

    select * from {{ ref('int_risk_scores_graded') }}

),

calls_after as (

    select
        alerts.alert_id,
        calls.call_id,
        calls.scheduled_at,
        calls.is_answered,
        coalesce(calls.started_at, calls.scheduled_at) as contact_at,
        row_number() over (
            partition by alerts.alert_id
            order by calls.scheduled_at, calls.call_id
        ) as call_order
    from alerts
    inner join calls
        on
            alerts.resident_key = calls.resident_key
            and alerts.alerted_at <= calls.scheduled_at

),

next_calls as (

    select
        alert_id,
        call_id as next_call_id,
        scheduled_at as next_call_at,
        is_answered as next_call_answered
    from calls_after
    where call_order = 1

),

answered_contacts as (

    select
        alert_id,
        min(contact_at) as first_answered_contact_at
    from calls_after
    where is_answered
    group by alert_id

),

visits_after as (

    select
        alerts.alert_id,
        visits.visit_id,
        visits.visited_at,
        row_number() over (
            partition by alerts.alert_id
            order by visits.visited_at, visits.visit_id
        ) as visit_order
    from alerts
    inner join visits
        on
            alerts.resident_key = visits.resident_key
            and alerts.alerted_at <= visits.visited_at

),

first_visits as (

    select
        alert_id,
        visit_id as first_visit_id,
        visited_at as first_visit_at
    from visits_after
    where visit_order = 1

),

joined as (

    select
        alerts.alert_id,
        alerts.resident_key,
        scores.district_code,
        alerts.score_date,
        alerts.grade,
        alerts.next_step,
        alerts.alerted_at,
        next_calls.next_call_id,
        next_calls.next_call_at,
        next_calls.next_call_answered,
        answered_contacts.first_answered_contact_at,
        first_visits.first_visit_id,
        first_visits.first_visit_at,
        least(answered_contacts.first_answered_contact_at, first_visits.first_visit_at) as resolved_at
    from alerts
    left join scores
        on
            alerts.resident_key = scores.resident_key
            and alerts.score_date = scores.score_date
    left join next_calls
        on alerts.alert_id = next_calls.alert_id
    left join answered_contacts
        on alerts.alert_id = answered_contacts.alert_id
    left join first_visits
        on alerts.alert_id = first_visits.alert_id

),

final as (

    select
        *,
        {{ hours_between('alerted_at', 'next_call_at') }} as hours_to_next_call,
        {{ hours_between('alerted_at', 'first_answered_contact_at') }} as hours_to_answered_contact,
        {{ hours_between('alerted_at', 'first_visit_at') }} as hours_to_visit,
        {{ hours_between('alerted_at', 'resolved_at') }} as hours_to_resolution,
        case
            when resolved_at is null then null
            when resolved_at = first_answered_contact_at then 'answered_contact'
            else 'home_visit'
        end as resolution_type
    from joined

)

select * from final
