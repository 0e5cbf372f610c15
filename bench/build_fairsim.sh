#!/usr/bin/env bash
# Build fairSIM (https://github.com/fairSIM/fairSIM, GPL-2.0+) beside the project, by hand, for the
# SIM benchmark (bench/sim.py), and compile our headless driver bench/FairSimDriver.java against it.
# No fairSIM code is committed: the source comes from a checkout you point to, the build goes to
# bench/venvs/fairsim (git-ignored).
#
#   bench/build_fairsim.sh /path/to/fairSIM            # a git checkout or a source tree of fairSIM
#   FAIRSIM_SRC=/path/to/fairSIM bench/build_fairsim.sh
#
# Dependencies come from Maven Central through Maven (`mvn dependency:get`, into ~/.m2):
# net.imagej:ij:1.54p, com.github.wendykierp:JTransforms:3.1 (+ pl.edu.icm:JLargeArrays:1.6,
# org.apache.commons:commons-math3:3.6.1), and javax.xml.bind:jaxb-api:2.3.1, because fairSIM's
# utils/Conf.java imports javax.xml.bind.DatatypeConverter, which left the JDK in Java 11.
# fairSIM's own Makefile targets Java 6 with an rt.jar from an Ubuntu .deb; here plain javac 17
# compiles it. Like fairSIM's pom.xml, the connector to its forked JTransforms is left out (the
# original JTransforms 3.1 is used).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="${1:-${FAIRSIM_SRC:-}}"
OUT="$ROOT/bench/venvs/fairsim"
M2="${HOME}/.m2/repository"

if [ -z "$SRC" ]; then
  echo "usage: bench/build_fairsim.sh /path/to/fairSIM (a checkout of github.com/fairSIM/fairSIM)" >&2
  exit 2
fi
if [ -d "$SRC/objects" ] && [ -f "$SRC/HEAD" ]; then
  # a bare git directory (e.g. a mirror): export its HEAD tree
  TREE="$(mktemp -d)"
  git --git-dir="$SRC" archive HEAD | tar -x -C "$TREE"
  COMMIT="$(git --git-dir="$SRC" rev-parse HEAD)"
  SRC="$TREE"
else
  COMMIT="$(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo unknown)"
fi
if [ ! -f "$SRC/org/fairsim/sim_algorithm/SimAlgorithm.java" ]; then
  echo "$SRC does not look like fairSIM's source (org/fairsim/sim_algorithm/SimAlgorithm.java missing)" >&2
  exit 2
fi

declare -A JARS=(
  [ij]="net.imagej:ij:1.54p:$M2/net/imagej/ij/1.54p/ij-1.54p.jar"
  [jtransforms]="com.github.wendykierp:JTransforms:3.1:$M2/com/github/wendykierp/JTransforms/3.1/JTransforms-3.1.jar"
  [jlargearrays]="pl.edu.icm:JLargeArrays:1.6:$M2/pl/edu/icm/JLargeArrays/1.6/JLargeArrays-1.6.jar"
  [math3]="org.apache.commons:commons-math3:3.6.1:$M2/org/apache/commons/commons-math3/3.6.1/commons-math3-3.6.1.jar"
  [jaxb]="javax.xml.bind:jaxb-api:2.3.1:$M2/javax/xml/bind/jaxb-api/2.3.1/jaxb-api-2.3.1.jar"
)
CP=""
for key in "${!JARS[@]}"; do
  spec="${JARS[$key]}"
  coords="${spec%:*}"
  jar="${spec##*:}"
  if [ ! -f "$jar" ]; then
    mvn -q -B dependency:get -Dartifact="$coords" >/dev/null
  fi
  CP="$CP:$jar"
done
CP="${CP#:}"

rm -rf "$OUT"
mkdir -p "$OUT/classes"
# shellcheck disable=SC2046
javac -nowarn -encoding UTF-8 -cp "$CP" -d "$OUT/classes" \
  $(find "$SRC/org/fairsim" -name '*.java' ! -name JTransformsForkConnector.java) 2>&1 | grep -v '^Note:' || true
test -f "$OUT/classes/org/fairsim/sim_algorithm/SimAlgorithm.class"
javac -nowarn -encoding UTF-8 -cp "$CP:$OUT/classes" -d "$OUT/classes" "$ROOT/bench/FairSimDriver.java"
echo "$CP:$OUT/classes" > "$OUT/classpath.txt"
echo "$COMMIT" > "$OUT/commit.txt"
echo "fairSIM $COMMIT built in $OUT (classpath in classpath.txt)"
