// electron-builder `beforePack` hook (electron-builder.yml): refuses to
// package Hookscope for a platform or an architecture its native pieces
// were not built for. The injected agent (native/agent) and the addon
// (native/addon) are built by `npm run build` for the machine it runs on,
// and only Linux has an agent so far (docs/architecture.md, "Packaging"):
// a dmg or an installer would otherwise ship a Linux x64 library that
// nothing on the user's machine could load, and the app would fail at its
// first attach instead of here.
'use strict';

const { Arch } = require('builder-util');

/** Why packaging for this platform and architecture cannot work, or null. */
function refusal(platform, arch, host) {
  if (platform !== 'linux') {
    return (
      `Hookscope cannot be packaged for ${platform} yet: its injected agent and addon are ` +
      'built and tested for Linux only (docs/architecture.md, "Packaging"). ' +
      'Package on Linux with `npm run dist`.'
    );
  }
  if (arch !== host) {
    return (
      `Hookscope's agent and addon were built for ${host}, not ${arch}: ` +
      `run \`npm run dist\` on a Linux ${arch} machine to package for it.`
    );
  }
  return null;
}

exports.refusal = refusal;

exports.default = async function checkNativePlatform(context) {
  const reason = refusal(context.electronPlatformName, Arch[context.arch], process.arch);
  if (reason !== null) throw new Error(reason);
};
