# The Spark image of spark-master, spark-worker-1/-2 and spark-connect: Spark 4.0.1 as the pyspark wheel
# ships it (SPARK_HOME is the installed package; its sbin/ lacks the start scripts, so compose.yaml starts
# the master and workers with spark-class and the Connect server with spark-submit), a Debian JRE 17, and
# the jars of spark/pom.xml (Delta Lake 4.0.1, hadoop-aws 3.4.1 and its AWS SDK bundle) from a Maven stage.
# Build context: the repository root (compose.yaml sets it).

FROM maven:3-eclipse-temurin-17 AS jars
WORKDIR /build
COPY spark/pom.xml spark/pom.xml
# Scala and ANTLR come with the Spark inside the wheel (the same exclusions as `make spark-jars`).
RUN mvn -B -q dependency:copy-dependencies -f spark/pom.xml -DoutputDirectory=/jars \
        -DexcludeArtifactIds=scala-library,antlr4-runtime

# bookworm: Debian's openjdk-17 packages (trixie, the newer base, has only JDK 21 and later).
FROM python:3.11-slim-bookworm
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# The JRE's postinst links its man pages: slim images have no /usr/share/man/man1.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/*

COPY constraints.txt /tmp/constraints.txt
RUN pip install -c /tmp/constraints.txt "pyspark[connect]==4.0.1" && rm /tmp/constraints.txt

ENV SPARK_HOME=/usr/local/lib/python3.11/site-packages/pyspark \
    GGLAKE_SPARK_JARS=/opt/gglake-spark/jars \
    SPARK_CONF_DIR=/opt/gglake-spark/conf \
    SPARK_LOG_DIR=/tmp/spark-logs \
    SPARK_LOCAL_DIRS=/tmp/spark-local \
    SPARK_NO_DAEMONIZE=1
ENV PATH=$SPARK_HOME/bin:$PATH
# Outside $SPARK_HOME/jars, on the Connect server's driver and executor class path after Spark's own slf4j
# (docker/spark-connect.sh), as the local profile does: the AWS SDK bundle carries an unshaded slf4j 1.7,
# which on the master's and workers' class path too would silence their logging.
COPY --from=jars /jars/ /opt/gglake-spark/jars/
COPY --chmod=0755 docker/spark-connect.sh /usr/local/bin/gglake-spark-connect
RUN test -x "$SPARK_HOME/bin/spark-class" \
    && ls "$SPARK_HOME"/jars/spark-connect_2.13-4.0.1.jar "$GGLAKE_SPARK_JARS"/delta-spark_2.13-4.0.1.jar \
        "$GGLAKE_SPARK_JARS"/hadoop-aws-3.4.1.jar >/dev/null \
    && mkdir -p "$SPARK_CONF_DIR" \
    && useradd --create-home --uid 185 spark
USER spark
WORKDIR /home/spark
