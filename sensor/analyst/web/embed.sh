#!/bin/sh
# embed.sh - write the dashboard page (index.html, app.js, style.css beside
# this script) to standard output as a C header of string literals, so that
# ksd serves it without reading files at run time. The Makefile runs it at
# build time into build/gen/sensor/analyst/web_assets.h (never committed):
#
#   sh sensor/analyst/web/embed.sh > build/gen/sensor/analyst/web_assets.h
#
# Each source line becomes one "...\n" literal; backslash, double quote and
# question mark (trigraphs under -std=c11) are escaped. Sources must be ASCII.
set -eu
dir=$(dirname "$0")

emit() {
    printf 'static const char %s[] =\n' "$1"
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/    "/' -e 's/$/\\n"/' "$dir/$2"
    printf '    "";\n\n'
}

for f in index.html app.js style.css; do
    if LC_ALL=C grep -q '[^ -~	]' "$dir/$f"; then
        echo "embed.sh: $dir/$f has a byte that is not printable ASCII" >&2
        exit 1
    fi
done

cat <<'HEAD'
/*
 * web_assets.h - the dashboard page served by sensor/analyst/web.c, generated
 * at build time by sensor/analyst/web/embed.sh from sensor/analyst/web/
 * index.html, app.js and style.css. Do not edit: change the sources; make
 * regenerates it.
 */
#ifndef KSD_WEB_ASSETS_H
#define KSD_WEB_ASSETS_H

/* clang-format off */
HEAD
emit ksd_web_index_html index.html
emit ksd_web_app_js app.js
emit ksd_web_style_css style.css
cat <<'TAIL'
/* clang-format on */

#endif
TAIL
