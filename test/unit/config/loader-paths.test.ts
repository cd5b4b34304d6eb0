import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelsCacheDir, isCheckout, loadConfig, PACKAGE_ROOT, proxySettingsFromEnv, userConfigFile } from '../../../src/config/loader.ts';
import { ConfigError } from '../../../src/shared/errors.ts';

/** A fake package folder (config/default.yaml, models/) laid out as npm installs it, or as a checkout with `.git`. */
function makePackage(parent: string, layout: 'installed' | 'checkout'): string {
  const root = layout === 'installed' ? join(parent, 'lib', 'node_modules', 'streamsight') : join(parent, 'repo');
  mkdirSync(join(root, 'config'), { recursive: true });
  mkdirSync(join(root, 'models'));
  writeFileSync(join(root, 'config', 'default.yaml'), 'model:\n  batch: 8\n  topK: 5\n');
  if (layout === 'checkout') mkdirSync(join(root, '.git'));
  return root;
}

describe('config paths for an installed package and a checkout', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ss-paths-'));
    env = { HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, 'xdg-config'), XDG_CACHE_HOME: join(dir, 'xdg-cache') };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('an installed package caches models in $XDG_CACHE_HOME/streamsight/models, else ~/.cache/streamsight/models', () => {
    const root = makePackage(dir, 'installed');
    assert.equal(isCheckout(root), false);
    assert.equal(defaultModelsCacheDir(env, root), join(dir, 'xdg-cache', 'streamsight', 'models'));
    assert.equal(defaultModelsCacheDir({ HOME: join(dir, 'home') }, root), join(dir, 'home', '.cache', 'streamsight', 'models'));
    assert.equal(
      defaultModelsCacheDir({ HOME: join(dir, 'home'), XDG_CACHE_HOME: 'relative/cache' }, root),
      join(dir, 'home', '.cache', 'streamsight', 'models'),
      'a relative XDG path is ignored',
    );
    assert.equal(loadConfig({ env, packageRoot: root }).models.cacheDir, join(dir, 'xdg-cache', 'streamsight', 'models'));
  });

  it('a checkout (a .git, not under node_modules) keeps its models/ folder whatever XDG says', () => {
    const root = makePackage(dir, 'checkout');
    assert.equal(isCheckout(root), true);
    assert.equal(loadConfig({ env, packageRoot: root }).models.cacheDir, join(root, 'models'));
    assert.equal(isCheckout(PACKAGE_ROOT), true, 'this repository is a checkout');
  });

  it('STREAMSIGHT_MODELS_DIR, the user config and flags override the default cache folder', () => {
    const root = makePackage(dir, 'installed');
    assert.equal(loadConfig({ env: { ...env, STREAMSIGHT_MODELS_DIR: '/srv/models' }, packageRoot: root }).models.cacheDir, '/srv/models');
    mkdirSync(join(dir, 'xdg-config', 'streamsight'), { recursive: true });
    writeFileSync(join(dir, 'xdg-config', 'streamsight', 'config.yaml'), 'models:\n  cacheDir: /data/models\n');
    assert.equal(loadConfig({ env, packageRoot: root }).models.cacheDir, '/data/models');
    assert.equal(loadConfig({ env, packageRoot: root, flags: { models: { cacheDir: '/flag' } } }).models.cacheDir, '/flag');
  });

  it('the user config is $XDG_CONFIG_HOME/streamsight/config.yaml, else ~/.config/streamsight/config.yaml, else none', () => {
    assert.equal(userConfigFile(env), join(dir, 'xdg-config', 'streamsight', 'config.yaml'));
    assert.equal(userConfigFile({ HOME: '/home/u' }), '/home/u/.config/streamsight/config.yaml');
    assert.equal(userConfigFile({}), undefined);

    const root = makePackage(dir, 'installed');
    mkdirSync(join(dir, 'home', '.config', 'streamsight'), { recursive: true });
    writeFileSync(join(dir, 'home', '.config', 'streamsight', 'config.yaml'), 'model:\n  batch: 3\n');
    assert.equal(loadConfig({ env: { HOME: join(dir, 'home') }, packageRoot: root }).model.batch, 3, 'read from ~/.config without XDG_CONFIG_HOME');
    assert.equal(loadConfig({ env, packageRoot: root }).model.batch, 8, 'XDG_CONFIG_HOME names another folder, which holds none');
  });

  it('precedence: default.yaml < user config < --config FILE < environment < flags', () => {
    const root = makePackage(dir, 'installed');
    writeFileSync(join(root, 'config', 'default.yaml'), 'model:\n  batch: 8\n  topK: 5\n  threads: 1\nsampling:\n  fps: 1\nlog:\n  level: info\n');
    mkdirSync(join(dir, 'xdg-config', 'streamsight'), { recursive: true });
    writeFileSync(join(dir, 'xdg-config', 'streamsight', 'config.yaml'), 'model:\n  batch: 2\n  topK: 3\n  threads: 2\nsampling:\n  fps: 2\n');
    const file = join(dir, 'run.yaml');
    writeFileSync(file, 'model:\n  batch: 4\n  topK: 4\n');

    const c = loadConfig({ env: { ...env, STREAMSIGHT_BATCH: '6' }, packageRoot: root, file, flags: { model: { topK: 7 } } });
    assert.equal(c.log.level, 'info', 'from default.yaml');
    assert.equal(c.sampling.fps, 2, 'user config over default.yaml');
    assert.equal(c.model.threads, 2, 'user config kept where --config says nothing');
    assert.equal(c.model.batch, 6, 'environment over --config');
    assert.equal(c.model.topK, 7, 'flags over everything');
    assert.equal(loadConfig({ env, packageRoot: root, file }).model.topK, 4, '--config over the user config');
  });

  it('a broken user config is a ConfigError naming the file', () => {
    const root = makePackage(dir, 'installed');
    mkdirSync(join(dir, 'xdg-config', 'streamsight'), { recursive: true });
    const userFile = join(dir, 'xdg-config', 'streamsight', 'config.yaml');
    writeFileSync(userFile, 'model: [unclosed');
    assert.throws(
      () => loadConfig({ env, packageRoot: root }),
      (err: unknown) => err instanceof ConfigError && err.message.includes(userFile),
    );
  });
});

describe('proxy settings from the environment', () => {
  it('reads the lower-case name first, then the upper-case one; NO_PROXY splits on commas and blanks', () => {
    const p = proxySettingsFromEnv({
      https_proxy: 'http://lower:3128',
      HTTPS_PROXY: 'http://upper:3128',
      HTTP_PROXY: 'proxy.corp:8080',
      NO_PROXY: 'localhost, .corp.example  10.0.0.0/8,,',
    });
    assert.equal(p.https?.href, 'http://lower:3128/');
    assert.equal(p.http?.href, 'http://proxy.corp:8080/', 'a proxy without a scheme is http://');
    assert.deepEqual(p.noProxy, ['localhost', '.corp.example', '10.0.0.0/8']);
    assert.deepEqual(proxySettingsFromEnv({}), { http: undefined, https: undefined, noProxy: [] });
  });

  it('refuses a proxy it cannot speak to, without repeating its password', () => {
    assert.throws(
      () => proxySettingsFromEnv({ HTTPS_PROXY: 'socks5://u:hunter2@p:1080' }),
      (err: unknown) => err instanceof ConfigError && /HTTPS_PROXY/.test(err.message) && /socks5/.test(err.message) && !err.message.includes('hunter2'),
    );
    assert.throws(
      () => proxySettingsFromEnv({ http_proxy: 'http://[bad' }),
      (err: unknown) => err instanceof ConfigError && /http_proxy/.test(err.message),
    );
  });
});
