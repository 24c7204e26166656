{#
    Sail keeps its catalog per Spark Connect session, so every dbt run declares the lakehouse
    tables it reads in its own session: each source at `<lakehouse_home>/<meta.path>` (the path
    comes from gglake/catalog.py through the generated _sources.yml), and each gold mart or seed
    that earlier runs materialised, so incremental models merge into the existing table.
    `existing_tables` (set by gglake.dbt_runner) lists what exists in storage; a source that does
    not exist yet is declared as an empty view with its catalog columns, so the marts build empty
    instead of failing. Unset (plain `dbt build`): every source is assumed to exist.
#}
{% macro register_lakehouse() %}
    {% if execute %}
        {% set home = var('lakehouse_home') %}
        {% set existing = var('existing_tables') %}
        {% set schemas = [target.schema] %}
        {% for node in graph.sources.values() %}
            {% do schemas.append(node.schema) %}
        {% endfor %}
        {% for node in graph.nodes.values() if node.resource_type in ('model', 'seed') %}
            {% do schemas.append(node.schema) %}
        {% endfor %}
        {% for schema in schemas | unique %}
            {% do run_query('create database if not exists ' ~ schema) %}
        {% endfor %}
        {% for node in graph.sources.values() %}
            {% set name = node.schema ~ '.' ~ node.name %}
            {% if existing is none or name in existing %}
                {% do run_query(
                    "create table if not exists " ~ name
                    ~ " using delta location '" ~ home ~ "/" ~ node.meta.path ~ "'"
                ) %}
            {% else %}
                {% set cols = [] %}
                {% for col in node.columns.values() %}
                    {% do cols.append('cast(null as ' ~ col.data_type ~ ') as ' ~ col.name) %}
                {% endfor %}
                {% do run_query('create or replace view ' ~ name ~ ' as select ' ~ cols | join(', ') ~ ' where false') %}
            {% endif %}
        {% endfor %}
        {% if existing is not none %}
            {% for node in graph.nodes.values() if node.resource_type in ('model', 'seed') %}
                {% set name = node.schema ~ '.' ~ node.alias %}
                {% if name in existing and node.config.location_root %}
                    {% do run_query(
                        "create table if not exists " ~ name
                        ~ " using delta location '" ~ node.config.location_root ~ "/" ~ node.alias ~ "'"
                    ) %}
                    {#- dbt filled its relation cache before this hook ran: tell it the table exists -#}
                    {% do adapter.cache_added(api.Relation.create(
                        schema=node.schema, identifier=node.alias, type='table', is_delta=true
                    )) %}
                {% endif %}
            {% endfor %}
        {% endif %}
    {% endif %}
    select 1
{% endmacro %}
