#!/usr/bin/env bash
# Records the public API of the packages (src/NetStack, src/NetStack.AspNetCore) in their
# PublicAPI.Unshipped.txt after a deliberate change to it: the build fails on any public symbol
# the files do not list (RS0016) or list but no longer exist (RS0017), so an API change is always
# a visible decision in the diff. Run, review `git diff src/*/PublicAPI.*.txt`, commit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for proj in src/NetStack/NetStack.csproj src/NetStack.AspNetCore/NetStack.AspNetCore.csproj; do
  dotnet format analyzers "$proj" --diagnostics RS0016 RS0017 RS0037 --severity info -v quiet
done
wc -l src/*/PublicAPI.Unshipped.txt
