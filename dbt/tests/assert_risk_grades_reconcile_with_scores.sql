-- The grade distribution in fct_risk_daily adds up to the residents scored in gold.risk_scores,
-- and every alert in gold.risk_alerts has one row in fct_alert_response.
with

scores as (

    select
        score_date,
        count(*) as residents_scored
    from {{ ref('stg_gold__risk_scores') }}
    group by score_date

),

mart as (

    select
        score_date,
        sum(residents_scored) as residents_scored,
        sum(grade_normal + grade_attention + grade_caution + grade_warning + grade_serious) as graded
    from {{ ref('fct_risk_daily') }}
    group by score_date

),

score_mismatches as (

    select
        coalesce(scores.score_date, mart.score_date) as score_date,
        'risk_scores' as check_name,
        scores.residents_scored as expected,
        mart.residents_scored as actual
    from scores
    full outer join mart
        on scores.score_date = mart.score_date
    where
        coalesce(scores.residents_scored, -1) != coalesce(mart.residents_scored, -1)
        or mart.graded != mart.residents_scored

),

alert_counts as (

    select count(*) as alerts
    from {{ ref('stg_gold__risk_alerts') }}

),

response_counts as (

    select count(*) as alerts
    from {{ ref('fct_alert_response') }}

),

alert_mismatches as (

    select
        cast(null as date) as score_date,
        'risk_alerts' as check_name,
        alert_counts.alerts as expected,
        response_counts.alerts as actual
    from alert_counts
    cross join response_counts

),

final as (

    select * from score_mismatches
    union all
    select * from alert_mismatches
    where expected != actual

)

select * from final
