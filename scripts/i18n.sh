#!/usr/bin/env bash
# Update the translation catalogues from the code.
#
#   scripts/i18n.sh
#
# 1. extracts every msgid (Python per babel.cfg, Jinja2 templates) into src/dgov/locale/messages.pot;
# 2. merges it into src/dgov/locale/{vi,en}/LC_MESSAGES/messages.po (creating a missing one), dropping
#    strings the code no longer uses.
# Then translate every new or "#, fuzzy" entry in vi/LC_MESSAGES/messages.po (fuzzy ones are guesses
# from a similar old string: fix the text, remove the fuzzy flag). Keep {placeholders} exactly as in
# the msgid. Leave en msgstr empty: English falls back to the msgid. No compile step: dgov compiles the
# .po files in memory at start-up. `pytest tests/kernel/test_i18n.py` checks all of this.
#
# Strings the code looks up from data (tables of titles, messages by error type) cannot be seen by the
# extractor: list them in src/dgov/locale/extra_msgids.py. Error titles, DomainError details and
# FieldError messages are found on their own (src/dgov/locale/extract.py).
set -euo pipefail
cd "$(dirname "$0")/.."

PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
LOCALE_DIR=src/dgov/locale
POT="$LOCALE_DIR/messages.pot"
VERSION="$(.venv/bin/python -c 'import dgov; print(dgov.__version__)' 2>/dev/null || echo 0)"

"$PYBABEL" -q extract -F babel.cfg -o "$POT" \
  --project=dgov --version="$VERSION" --copyright-holder="dgov contributors" \
  --add-comments=TRANSLATORS: --add-location=file --sort-by-file \
  src/dgov

for lang in vi en; do
  po="$LOCALE_DIR/$lang/LC_MESSAGES/messages.po"
  if [[ -f "$po" ]]; then
    "$PYBABEL" -q update -i "$POT" -d "$LOCALE_DIR" -D messages -l "$lang" --ignore-obsolete
  else
    "$PYBABEL" -q init -i "$POT" -d "$LOCALE_DIR" -D messages -l "$lang"
  fi
done

untranslated="$(.venv/bin/python - "$LOCALE_DIR/vi/LC_MESSAGES/messages.po" <<'PY'
import sys
from babel.messages.pofile import read_po
with open(sys.argv[1], "rb") as f:
    cat = read_po(f)
todo = [m for m in cat if m.id and (m.fuzzy or not (m.string if isinstance(m.string, str) else all(m.string)))]
print(len(todo))
PY
)"
echo "catalogues updated; Vietnamese entries still to translate or check (new or fuzzy): $untranslated"
