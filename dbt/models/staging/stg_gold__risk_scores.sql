with

source as (

    select * from {{ source('gold', 'risk_scores') }}

),

renamed as (

    select
        cast(resident_key as string) as resident_key,
        cast(score_date as date) as score_date,
        cast(probability as double) as probability,
        cast(model_grade as string) as model_grade,
        cast(grade as string) as grade,
        cast(rule_flags as string) as rule_flags,
        cast(model_version as string) as model_version
    from source

)

select * from renamed
