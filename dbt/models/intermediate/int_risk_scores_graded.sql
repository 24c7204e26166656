-- One row per resident and score date: the grade's rank on the Korean public alert scale
-- (정상 0, 관심 1, 주의 2, 경계 3, 심각 4) and whether it is an alert (주의 or above).
with

scores as (

    select * from {{ ref('stg_gold__risk_scores') }}

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

ranked as (

    select
        *,
        case grade
            {%- for grade in var('risk_grades') %}
            when '{{ grade }}' then {{ loop.index0 }}
            {%- endfor %}
        end as grade_rank
    from scores

),

final as (

    select
        ranked.resident_key,
        ranked.score_date,
        coalesce(versions.district_code, current_versions.district_code) as district_code,
        ranked.probability,
        ranked.model_grade,
        ranked.grade,
        ranked.grade_rank,
        coalesce(
            ranked.grade_rank >= {{ var('risk_grades').index(var('alert_grades')[0]) }}, false
        ) as is_alert,
        ranked.rule_flags
    from ranked
    left join versions
        on
            ranked.resident_key = versions.resident_key
            and ranked.score_date >= versions.valid_from
            and ranked.score_date < versions.valid_until
    left join current_versions
        on ranked.resident_key = current_versions.resident_key

)

select * from final
