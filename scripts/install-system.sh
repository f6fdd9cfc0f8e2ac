#!/usr/bin/env bash
# Debian packages KFQMap needs: GDAL's command-line clients (ogrinfo/ogr2ogr, used by the interop tests and
# by planners), Chromium for the browser tests, Noto CJK so Chinese renders in screenshots and PNG output, and
# PostgreSQL 15 + PostGIS 3 (initdb/pg_ctl under /usr/lib/postgresql/15/bin) for the PostGIS store tests, which
# start a throwaway cluster of their own (no system cluster is used or needed), and QGIS (python3-qgis) so the
# interop tests open our GeoPackage styles, CSV and MapLibre style in QGIS itself; nginx (the front of a multi-worker
# deployment, docs/deploy.md: the scale tests run it from a config in a temp dir) and pgbouncer (connection pooling
# in front of PostgreSQL, docs/deploy.md), openssl (the TLS example test makes a self-signed certificate). The tests never use
# a system nginx or pgbouncer (on a machine with systemd Debian starts them with their default configs; the tests
# start their own from temp dirs on free ports).
# Idempotent: installs only what is missing. Needs root (as on CI) or sudo.
set -euo pipefail
PKGS="gdal-bin chromium fonts-noto-cjk postgresql-15 postgresql-15-postgis-3 python3-qgis nginx pgbouncer openssl"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "installing Debian packages:$missing"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi
