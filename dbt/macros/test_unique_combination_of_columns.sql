{#
    Generic test: the combination of `columns` is unique (dbt_utils.unique_combination_of_columns
    without the package, which would need a download at install time).
#}
{% test unique_combination_of_columns(model, columns) %}
    select
        {{ columns | join(', ') }},
        count(*) as rows_per_key
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
