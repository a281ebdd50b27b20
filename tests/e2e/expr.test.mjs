// expr.test.mjs — `ivory expr` (docs/transforms.md): JSON results, exit statuses, limits, and
// the differential test against CPython (tests/expr/difftest.py: 5,000 generated cases, fixed
// seed, evaluated by Debian's /usr/bin/python3 and by `ivory expr --batch`; identical type
// and value, or both an error).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { IVORY, REPO, ivory } from './lib/server.mjs';

const run = (expr, ...rest) => ivory(['expr', expr, ...rest]);

describe('ivory expr', () => {
    test('prints the result as JSON, exit 0', () => {
        const cases = [
            ['round(2.5)', '2'], ['-7 // 2', '-4'], ["'İ'.lower()", '"i̇"'], ["'ß'.upper()", '"SS"'],
            ["'abc'[-10:10]", '"abc"'], ['str(0.1 + 0.2)', '"0.30000000000000004"'],
            ['10**20', '100000000000000000000'], ['(1, [2.5, None])', '[1,[2.5,null]]'],
            ["{'a': 1, 2: True}", '{"a":1,"2":true}'], ["f'{value:>6.2f}|{row[\"k\"]!r}'", '"  3.14|\'v\'"'],
            ["row.get('missing', 'dflt')", '"dflt"'], ["parse_datetime('2024-01-02T03:04:05+02:00')",
                '"2024-01-02T01:04:05+00:00"'],
        ];
        for (const [e, want] of cases) {
            const r = run(e, '--value', '3.14159', '--row', '{"k": "v"}');
            assert.equal(r.status, 0, `${e}: ${r.stderr}`);
            assert.equal(r.stdout.trim(), want, e);
        }
    });

    test('a Python exception is exit 1 with its name; a syntax error names the column', () => {
        let r = run('1 / 0');
        assert.equal(r.status, 1);
        assert.match(r.stderr, /ZeroDivisionError/);
        r = run("row['x']", '--row', '{}');
        assert.equal(r.status, 1);
        assert.match(r.stderr, /KeyError: 'x'/);
        r = run('value +');
        assert.equal(r.status, 1);
        assert.match(r.stderr, /SyntaxError at column 8/);
        for (const bad of ['__import__("os")', 'value.__class__', 'lambda: 1', 'open("/etc/passwd")', '[x for x in value]'])
            assert.equal(run(bad).status, 1, bad);
    });

    test('limits: big strings, big ints, deep nesting and long loops fail cleanly', () => {
        const cases = [["'x' * 10**9", /LimitError/], ['10 ** 10 ** 6', /LimitError/],
                       ['(' .repeat(500) + '1' + ')'.repeat(500), /nested too deeply/],
                       ["sorted('ab' * 400000)", /LimitError/]];
        for (const [e, re] of cases) {
            const t0 = Date.now();
            const r = run(e);
            assert.equal(r.status, 1, `${e}: ${r.stdout}`);
            assert.match(r.stderr, re, e);
            assert.ok(Date.now() - t0 < 5000, `${e} took too long`);
        }
    });

    test('bad arguments are usage errors (exit 2)', () => {
        assert.equal(ivory(['expr']).status, 2);
        assert.equal(run('1', '--value', '{bad').status, 2);
        assert.equal(run('1', '--row', '[1]').status, 2);
        assert.equal(run('1', '--nope').status, 2);
    });

    test('agrees with CPython on 5,000 generated cases (fixed seed)', () => {
        const py = '/usr/bin/python3';
        assert.ok(fs.existsSync(py), 'Debian python3 is required for the differential test');
        const r = spawnSync(py, [path.join(REPO, 'tests/expr/difftest.py'), '--ivory', IVORY,
                                 '--seed', '1', '--count', '5000'], { encoding: 'utf8', timeout: 120000 });
        assert.equal(r.status, 0, r.stdout + r.stderr);
        // the fixed cases (named ones and the int64-edge grid) come on top of the 5,000 drawn
        const m = r.stdout.match(/(\d+) cases \((\d+) fixed, seed 1\): (\d+) agree, 0 mismatches/);
        assert.ok(m, r.stdout);
        assert.equal(Number(m[1]) - Number(m[2]), 5000);
        assert.equal(m[3], m[1]);
    });
});
