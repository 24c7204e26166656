#!/bin/sh
# The spark-connect container: the Delta-enabled Spark Connect server, the cluster's only application.
# compose.yaml passes the non-secret settings as `--conf k=v` arguments; this script adds the class path
# (Spark's own slf4j first: the AWS SDK bundle carries an unshaded slf4j 1.7 that would silence Spark's
# logging) and the S3A settings made from the AWS_* variables, as gglake/spark_cluster.py's s3a_conf does,
# into a 0600 properties file, so the keys are never on a command line.
set -eu

conf="${SPARK_CONNECT_PROPERTIES:-/tmp/spark-connect.conf}"
extra_jars="${GGLAKE_SPARK_JARS:-/opt/gglake-spark/jars}"
slf4j=$(ls "$SPARK_HOME"/jars/slf4j-api-*.jar | head -n 1)
classpath="$slf4j:$extra_jars/*"

umask 077
{
    echo "spark.driver.extraClassPath $classpath"
    echo "spark.executor.extraClassPath $classpath"
    if [ -n "${AWS_ENDPOINT_URL:-}${AWS_ACCESS_KEY_ID:-}${AWS_REGION:-}" ]; then
        echo "spark.hadoop.fs.s3.impl org.apache.hadoop.fs.s3a.S3AFileSystem"
        echo "spark.hadoop.fs.s3a.impl org.apache.hadoop.fs.s3a.S3AFileSystem"
    fi
    if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
        echo "spark.hadoop.fs.s3a.endpoint $AWS_ENDPOINT_URL"
        echo "spark.hadoop.fs.s3a.path.style.access true"
        case "$AWS_ENDPOINT_URL" in
            https://*) echo "spark.hadoop.fs.s3a.connection.ssl.enabled true" ;;
            *) echo "spark.hadoop.fs.s3a.connection.ssl.enabled false" ;;
        esac
    fi
    if [ -n "${AWS_REGION:-}" ]; then
        echo "spark.hadoop.fs.s3a.endpoint.region $AWS_REGION"
    fi
    if [ -n "${AWS_ACCESS_KEY_ID:-}" ]; then
        echo "spark.hadoop.fs.s3a.access.key $AWS_ACCESS_KEY_ID"
        echo "spark.hadoop.fs.s3a.secret.key ${AWS_SECRET_ACCESS_KEY:-}"
        echo "spark.hadoop.fs.s3a.aws.credentials.provider org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
    fi
} > "$conf"

exec "$SPARK_HOME/bin/spark-submit" --class org.apache.spark.sql.connect.service.SparkConnectServer \
    --properties-file "$conf" "$@" spark-internal
