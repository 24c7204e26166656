with

responses as (

    select * from {{ ref('int_alerts_responded') }}

),

final as (

    select
        alert_id,
        resident_key,
        district_code,
        score_date,
        grade,
        next_step,
        alerted_at,
        next_call_id,
        next_call_at,
        next_call_answered,
        first_answered_contact_at,
        first_visit_id,
        first_visit_at,
        resolved_at,
        resolution_type,
        hours_to_next_call,
        hours_to_answered_contact,
        hours_to_visit,
        hours_to_resolution
    from responses

)

select * from final
