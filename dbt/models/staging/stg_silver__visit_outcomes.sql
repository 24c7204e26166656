with

source as (

    select * from {{ source('silver', 'visit_outcomes') }}

),

renamed as (

    select
        cast(visit_id as string) as visit_id,
        cast(resident_key as string) as resident_key,
        cast(visited_at as timestamp) as visited_at,
        cast(visit_date as date) as visit_date,
        cast(reason as string) as visit_reason,
        cast(outcome as string) as visit_outcome,
        cast(is_adverse as boolean) as is_adverse
    from source

)

select * from renamed
