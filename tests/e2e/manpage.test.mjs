// manpage.test.mjs — man/ivory.1 stays complete and well-formed: `man --warnings` reports
// nothing, its COMMANDS section names exactly the commands `ivory --help` lists, its ENVIRONMENT
// section names exactly the IVORY_* variables src/config/config.c (and the log level) reads,
// and the packaged env template (debian/ivory.env) carries every one of them, commented.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { REPO, ivory } from './lib/server.mjs';

const MAN = path.join(REPO, 'man', 'ivory.1');
const roff = fs.readFileSync(MAN, 'utf8');
const hasMan = spawnSync('man', ['--version']).status === 0;

// The lines of section NAME (from `.SH NAME` to the next `.SH`).
function section(name) {
    const lines = roff.split('\n');
    const start = lines.findIndex((l) => l.trim() === `.SH ${name}`);
    assert.ok(start >= 0, `man page has no ${name} section`);
    const end = lines.findIndex((l, i) => i > start && l.startsWith('.SH '));
    return lines.slice(start + 1, end < 0 ? undefined : end);
}

// The first word of each `.TP` tag line: `.B serve`, `.BR migrate " [" ...`, `.BI "backup \-\-to " FILE`.
function tags(lines) {
    const out = [];
    for (let i = 0; i < lines.length - 1; i++) {
        if (lines[i].trim() !== '.TP') continue;
        const m = /^\.B[IR]?\s+"?([A-Za-z0-9_\\-]+)/.exec(lines[i + 1]);
        if (m) out.push(m[1].replaceAll('\\-', '-'));
    }
    return out;
}

function helpCommands() {
    const r = ivory(['--help']);
    assert.equal(r.status, 0, r.stderr);
    const body = r.stdout.split('commands:\n')[1];
    assert.ok(body, `no "commands:" in --help:\n${r.stdout}`);
    return body.split('\n').map((l) => /^ {2}(\S+)/.exec(l)?.[1]).filter(Boolean);
}

function configVariables() {
    const src = fs.readFileSync(path.join(REPO, 'src', 'config', 'config.c'), 'utf8');
    const vars = [...src.matchAll(/\{"(IVORY_[A-Z0-9_]+)"/g)].map((m) => m[1]);
    assert.ok(vars.length > 20, 'the option table of config.c was not found');
    // Anything else that reads the environment directly (the log level, ...).
    const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith('.c') ? [path.join(d, e.name)] : []);
    for (const f of walk(path.join(REPO, 'src')))
        for (const m of fs.readFileSync(f, 'utf8').matchAll(/getenv\("(IVORY_[A-Z0-9_]+)"\)/g)) vars.push(m[1]);
    return [...new Set(vars)].sort();
}

describe('man ivory', () => {
    test('man --warnings reports nothing', { skip: !hasMan && 'man is not installed' }, () => {
        const r = spawnSync('man', ['--warnings', '-l', MAN], {
            encoding: 'utf8', env: { ...process.env, MANWIDTH: '80', MAN_DISABLE_SECCOMP: '1' }, timeout: 20000,
        });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr.trim(), '', `man warnings:\n${r.stderr}`);
        assert.match(r.stdout, /COMMANDS/);
    });

    test('COMMANDS names exactly the commands of ivory --help', () => {
        const help = helpCommands();
        assert.ok(help.includes('serve') && help.includes('backup'), help.join(' '));
        assert.deepEqual(tags(section('COMMANDS')).sort(), [...help].sort());
    });

    test('ENVIRONMENT names exactly the IVORY_* variables the code reads', () => {
        assert.deepEqual(tags(section('ENVIRONMENT')).sort(), configVariables());
    });

    test('debian/ivory.env is a commented template of every variable', () => {
        const env = fs.readFileSync(path.join(REPO, 'debian', 'ivory.env'), 'utf8');
        for (const v of configVariables())
            assert.match(env, new RegExp(`^#?\\s*${v}=`, 'm'), `debian/ivory.env lacks ${v}`);
        for (const line of env.split('\n').filter((l) => l && !l.startsWith('#')))
            assert.match(line, /^IVORY_[A-Z0-9_]+=\S*$/, `not NAME=value: ${line}`);
    });

    test('every listed command answers --help with exit 0', () => {
        for (const c of helpCommands()) {
            if (c === 'version') continue;
            const r = ivory([c, '--help']);
            if (/is not built yet/.test(r.stderr)) continue;
            assert.equal(r.status, 0, `${c} --help: ${r.stderr}`);
            assert.match(r.stdout, /usage: ivory/, c);
        }
    });
});
