-- Gyeonggi-do has 31 cities and counties: the district dimension holds each exactly once.
with

final as (

    select count(*) as districts
    from {{ ref('dim_districts') }}
    having count(*) != 31

)

select * from final
