{#
    Override of dbt-spark's spark__reset_csv_table. The default drops the old seed table and
    creates it again; for an external Delta table dropping keeps the data at its location, so the
    re-created table still holds the old rows and the seed appends a second copy. Deleting the
    rows (Delta DELETE, schema kept) before the seed inserts its rows reloads it exactly.
#}
{% macro spark__reset_csv_table(model, full_refresh, old_relation, agate_table) %}
    {% set sql = 'delete from ' ~ old_relation.render() %}
    {% do run_query(sql) %}
    {{ return(sql) }}
{% endmacro %}
