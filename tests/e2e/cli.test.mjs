// cli.test.mjs — the command line of docs/configuration.md and docs/security.md: --help, version, exit statuses
// (0 ok, 2 usage, 1 failure, one-line message on stderr), `config encrypt|decrypt` checked
// against an independent AES-256-GCM implementation (node's crypto), and `tenant create`
// output whose dev token is verified with node's HMAC.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { REPO, ivory, notBuilt, tempDir } from './lib/server.mjs';

const oneLine = (s, label) => {
    const lines = s.trim().split('\n');
    assert.equal(lines.length, 1, `${label}: expected one line on stderr, got:\n${s}`);
    assert.ok(lines[0].length > 0, `${label}: empty stderr`);
};

describe('ivory --help / version / usage', () => {
    test('--help lists every contract command, exit 0', () => {
        const r = ivory(['--help']);
        assert.equal(r.status, 0, r.stderr);
        for (const c of ['serve', 'runner', 'migrate', 'target-iceberg', 'expr', 'tenant', 'config', 'version'])
            assert.match(r.stdout, new RegExp(`\\b${c}\\b`), `--help lacks ${c}`);
    });

    test('version prints the VERSION file, exit 0', () => {
        const v = fs.readFileSync(path.join(REPO, 'VERSION'), 'utf8').trim();
        const r = ivory(['version']);
        assert.equal(r.status, 0);
        assert.match(r.stdout, new RegExp(`^ivory ${v.replaceAll('.', '\\.')}\\b`));
    });

    test('usage errors exit 2 with one line on stderr', () => {
        for (const args of [[], ['no-such-command'], ['--bogus']]) {
            const r = ivory(args);
            assert.equal(r.status, 2, `${args.join(' ')}: ${r.status}`);
            if (args.length) oneLine(r.stderr, args.join(' '));
        }
    });
});

describe('ivory config encrypt|decrypt (docs/security.md)', { skip: notBuilt('config') }, () => {
    const key = crypto.randomBytes(32);
    const env = { IVORY_CONFIG_KEY: key.toString('base64') };
    const plain = JSON.stringify({ username: 'u', password: 'p@ss "quoted" ü', nested: { n: [1, 2] } });

    const nodeDecrypt = (envelope, k = key) => {
        assert.match(envelope, /^v1:[A-Za-z0-9+/]+=*$/);
        const raw = Buffer.from(envelope.slice(3), 'base64');
        const d = crypto.createDecipheriv('aes-256-gcm', k, raw.subarray(0, 12));
        d.setAuthTag(raw.subarray(raw.length - 16));
        return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString('utf8');
    };
    const nodeEncrypt = (text, k = key) => {
        const iv = crypto.randomBytes(12);
        const c = crypto.createCipheriv('aes-256-gcm', k, iv);
        const ct = Buffer.concat([c.update(text, 'utf8'), c.final()]);
        return `v1:${Buffer.concat([iv, ct, c.getAuthTag()]).toString('base64')}`;
    };

    test('encrypt output decrypts with an independent AES-256-GCM', () => {
        const r = ivory(['config', 'encrypt'], { env, input: plain });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(nodeDecrypt(r.stdout.trim()), plain);
        const r2 = ivory(['config', 'encrypt'], { env, input: plain });
        assert.notEqual(r2.stdout.trim(), r.stdout.trim(), 'nonce reused');
    });

    test('decrypt opens an envelope made independently; round trip', () => {
        const r = ivory(['config', 'decrypt'], { env, input: nodeEncrypt(plain) + '\n' });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout.trim(), plain);
        const enc = ivory(['config', 'encrypt'], { env, input: plain }).stdout;
        assert.equal(ivory(['config', 'decrypt'], { env, input: enc }).stdout.trim(), plain);
    });

    test('failures: exit 1 (bad data, key) or 2 (usage), one line, no secret echoed', () => {
        const good = nodeEncrypt(plain);
        const raw = Buffer.from(good.slice(3), 'base64');
        raw[20] ^= 1;
        const tampered = `v1:${raw.toString('base64')}`;
        const cases = [
            [['config', 'decrypt'], env, tampered, 1, 'tampered ciphertext'],
            [['config', 'decrypt'], { IVORY_CONFIG_KEY: crypto.randomBytes(32).toString('base64') }, good, 1, 'wrong key'],
            [['config', 'decrypt'], env, 'v2:abcd', 1, 'wrong version prefix'],
            [['config', 'decrypt'], env, 'v1:!!!', 1, 'not base64'],
            [['config', 'decrypt'], env, `v1:${Buffer.alloc(10).toString('base64')}`, 1, 'too short'],
            [['config', 'encrypt'], {}, plain, 1, 'no IVORY_CONFIG_KEY'],
            [['config', 'encrypt'], { IVORY_CONFIG_KEY: Buffer.alloc(16).toString('base64') }, plain, 1, '16-byte key'],
            [['config', 'encrypt'], { IVORY_CONFIG_KEY: 'not base64 at all!' }, plain, 1, 'garbage key'],
            [['config'], env, '', 2, 'no subcommand'],
            [['config', 'shred'], env, '', 2, 'unknown subcommand'],
        ];
        for (const [args, e, input, want, label] of cases) {
            const r = ivory(args, { env: e, input });
            assert.equal(r.status, want, `${label}: exit ${r.status}, stderr ${r.stderr}`);
            oneLine(r.stderr, label);
            assert.equal(r.stdout, '', `${label}: wrote to stdout`);
            assert.ok(!r.stderr.includes('p@ss'), `${label}: plaintext in the message`);
            if (e.IVORY_CONFIG_KEY) assert.ok(!r.stderr.includes(e.IVORY_CONFIG_KEY), `${label}: key in the message`);
        }
    });
});

describe('ivory tenant create (docs/api.md, docs/configuration.md)', { skip: notBuilt('tenant') }, () => {
    const setup = () => {
        const dir = tempDir();
        const secret = crypto.randomBytes(32).toString('hex');
        return { dir, env: { IVORY_DATA_DIR: dir, IVORY_DB: `sqlite:${dir}/ivory.db`, IVORY_JWT_SECRET: secret }, secret };
    };
    const verifyHs256 = (token, secret) => {
        const [h, p, s] = token.split('.');
        const want = crypto.createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url');
        assert.equal(s, want, 'dev token is not HS256-signed with IVORY_JWT_SECRET');
        assert.equal(JSON.parse(Buffer.from(h, 'base64url')).alg, 'HS256');
        return JSON.parse(Buffer.from(p, 'base64url'));
    };

    test('prints id, slug and a dev token whose sub is the id', () => {
        const { dir, env, secret } = setup();
        try {
            const r = ivory(['tenant', 'create', '--slug', 'acme'], { env });
            assert.equal(r.status, 0, r.stderr);
            const j = JSON.parse(r.stdout);
            assert.equal(j.slug, 'acme');
            assert.match(j.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
            const claims = verifyHs256(j.token, secret);
            assert.equal(claims.sub, j.id);
            assert.ok(claims.exp > Date.now() / 1000, 'dev token already expired');
        } finally { fs.rmSync(dir, { recursive: true, force: true }); }
    });

    test('--id is used; a duplicate slug or id fails with exit 1', () => {
        const { dir, env } = setup();
        try {
            const id = crypto.randomUUID();
            const r = ivory(['tenant', 'create', '--slug', 'acme-corp', '--id', id], { env });
            assert.equal(r.status, 0, r.stderr);
            assert.equal(JSON.parse(r.stdout).id, id);
            const dupSlug = ivory(['tenant', 'create', '--slug', 'acme-corp'], { env });
            assert.equal(dupSlug.status, 1, dupSlug.stderr);
            oneLine(dupSlug.stderr, 'duplicate slug');
            const dupId = ivory(['tenant', 'create', '--slug', 'other', '--id', id], { env });
            assert.equal(dupId.status, 1, dupId.stderr);
        } finally { fs.rmSync(dir, { recursive: true, force: true }); }
    });

    test('without an HS256 key: no token in the output', () => {
        const { dir, env } = setup();
        try {
            delete env.IVORY_JWT_SECRET;
            const r = ivory(['tenant', 'create', '--slug', 'nokey'], { env });
            assert.equal(r.status, 0, r.stderr);
            const j = JSON.parse(r.stdout);
            assert.equal(j.slug, 'nokey');
            assert.ok(!j.token, 'token printed without a key');
        } finally { fs.rmSync(dir, { recursive: true, force: true }); }
    });

    test('usage errors: missing or invalid slug, unknown option -> exit 2, one line', () => {
        const { dir, env } = setup();
        try {
            for (const args of [['tenant'], ['tenant', 'create'], ['tenant', 'create', '--slug'],
                ['tenant', 'create', '--slug', 'AB'], ['tenant', 'create', '--slug', 'ab'],
                ['tenant', 'create', '--slug', 'a_b_c'], ['tenant', 'create', '--slug', 'x'.repeat(49)],
                ['tenant', 'create', '--slug', 'okay', '--bogus'],
                ['tenant', 'destroy']]) {
                const r = ivory(args, { env });
                assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
                oneLine(r.stderr, args.join(' '));
            }
        } finally { fs.rmSync(dir, { recursive: true, force: true }); }
    });
});
