{#
    Override of dbt-spark's spark__get_columns_in_relation_raw. Sail describes a table that was
    registered by location only (`create table ... using delta location ...`, as
    register_lakehouse does) without its columns; a temporary view over it is described in full.
    The docs catalog, unit-test fixtures and schema checks need the columns.
#}
{% macro spark__get_columns_in_relation_raw(relation) -%}
    {% call statement('get_columns_in_relation_raw', fetch_result=True) %}
        describe extended {{ relation }}
    {% endcall %}
    {% set rows = load_result('get_columns_in_relation_raw').table %}
    {% if rows | length > 0 and rows[0][0] == '' %}
        {% set view = '__dbt_columns_of_' ~ relation.identifier %}
        {% do run_query('create or replace temporary view ' ~ view ~ ' as select * from ' ~ relation) %}
        {% call statement('get_columns_in_relation_raw', fetch_result=True) %}
            describe extended {{ view }}
        {% endcall %}
        {% set rows = load_result('get_columns_in_relation_raw').table %}
    {% endif %}
    {% do return(rows) %}
{% endmacro %}
