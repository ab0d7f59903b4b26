#!/usr/bin/env bash
# Records a deliberate change of the public API of the packages (src/NetStack,
# src/NetStack.AspNetCore) in their PublicAPI.Unshipped.txt. The build fails on a public symbol the
# files do not list (RS0016) or list but no longer exist (RS0017), so an API change is always a
# visible decision: run this, review `git diff src/*/PublicAPI.*.txt`, commit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for dir in src/NetStack src/NetStack.AspNetCore; do
  # --no-incremental: an up-to-date build prints no analyzer diagnostics. The log goes through a
  # file: python reads its program from stdin (the heredoc), so stdin cannot also carry the log.
  log=$(mktemp)
  dotnet build "$dir" -c Release --nologo -v quiet --no-incremental -p:TreatWarningsAsErrors=false >"$log" 2>&1 || true
  python3 - "$dir/PublicAPI.Unshipped.txt" "$log" <<'PY'
import re, sys
path = sys.argv[1]
log = open(sys.argv[2]).read()
mine = path.rsplit('/', 1)[0] + '/'
add = {m.group(2) for m in re.finditer(r"^(\S+)\(\d+,\d+\): (?:error|warning) RS0016: Symbol '(.+?)' is not part of the declared", log, re.M) if mine in m.group(1)}
gone = {m.group(1) for m in re.finditer(r"(?:error|warning) RS0017: Symbol '(.+?)' is part of the declared API", log)}
lines = open(path).read().splitlines()
head = [l for l in lines if l.startswith('#')] or ['#nullable enable']
body = {l for l in lines if l and not l.startswith('#')}
new = sorted((body - gone) | add)
open(path, 'w').write('\n'.join(head + new) + '\n')
print(f"{path}: +{len(add)} -{len(body & gone)} ({len(new)} entries)")
PY
  rm -f "$log"
done
# Rebuild as the build does (warnings are errors), so the next incremental build does not skip a
# compile that would still fail.
dotnet build src/NetStack.AspNetCore -c Release --nologo -v quiet --no-incremental
