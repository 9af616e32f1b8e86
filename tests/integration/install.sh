#!/usr/bin/env bash
# cmake --install into a temporary prefix: the binary, the shipped search
# spaces and the docs land in bin/, share/proxyseg/spaces/, share/doc/proxyseg/;
# the installed binary runs and finds its spaces relative to itself (a space
# present only in the installed folder is found by the installed binary, not
# by the build tree's), also after the prefix is moved.
set -uo pipefail
build=$1
rm -rf tmp_install; mkdir -p tmp_install; cd tmp_install
cmake --install "$build" --prefix "$PWD/prefix" > install.log 2>&1 || { cat install.log; exit 1; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }
for f in bin/proxyseg share/proxyseg/spaces/lr_only.json share/proxyseg/spaces/lr_aug.json share/doc/proxyseg/README.md \
         share/doc/proxyseg/study-folder.md share/doc/proxyseg/search-spaces.md share/doc/proxyseg/proxy-data.md; do
  [ -s "prefix/$f" ] || bad "prefix/$f not installed"
done
prefix/bin/proxyseg --version > v.txt 2>&1 && grep -q "^proxyseg " v.txt || bad "installed binary: $(cat v.txt)"
echo '{"params": [{"key": "lr", "type": "float", "low": 0.001, "high": 0.1, "log": true}]}' > prefix/share/proxyseg/spaces/only_installed.json
mv prefix moved   # a relocated prefix still finds its spaces
# found: the search gets past the space to the (missing) dataset; not found: the space is named
moved/bin/proxyseg search --dataset no_such_dataset --space only_installed --study s1 --trials 1 > /dev/null 2> e1.txt
grep -q "no_such_dataset" e1.txt && ! grep -q "not found" e1.txt || bad "installed binary did not find its space: $(cat e1.txt)"
"$build/proxyseg" search --dataset no_such_dataset --space only_installed --study s2 --trials 1 > /dev/null 2> e2.txt
grep -q "search space 'only_installed' not found" e2.txt || bad "the build tree's binary found an installed-only space: $(cat e2.txt)"
[ "$fail" = 0 ] && echo "install: passed"
exit $fail
