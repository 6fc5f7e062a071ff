// The application menu's template (plain data; Electron builds it): the
// usual accelerators, commands sent to the renderer, and what a release
// leaves out.
import { describe, expect, it } from 'vitest';

import { MENU_COMMANDS, type MenuCommand } from '../common/ipc-contract.js';
import { appMenuTemplate, type MenuItemSpec } from './app-menu.js';

function build(platform: string, packaged: boolean) {
  const sent: MenuCommand[] = [];
  const template = appMenuTemplate({ platform, packaged, onCommand: (c) => sent.push(c) });
  return { template, sent };
}

function items(template: MenuItemSpec[]): MenuItemSpec[] {
  return template.flatMap((item) => [item, ...items(item.submenu ?? [])]);
}

function byLabel(template: MenuItemSpec[], label: string): MenuItemSpec {
  const found = items(template).find((i) => i.label === label);
  if (!found) throw new Error(`no item ${label}`);
  return found;
}

describe('the application menu', () => {
  it('has File, Edit, View and Help on Linux, Quit in File', () => {
    const { template } = build('linux', true);
    expect(template.map((m) => m.label ?? m.role)).toEqual(['&File', '&Edit', '&View', '&Help']);
    const file = template[0]?.submenu ?? [];
    expect(file.map((i) => i.label ?? i.role ?? i.type)).toEqual([
      'Open Session…',
      'Launch…',
      'Open Policy…',
      'separator',
      'Export…',
      'separator',
      'quit',
    ]);
    expect(byLabel(template, 'Open Session…').accelerator).toBe('CmdOrCtrl+O');
    expect(items(template).find((i) => i.role === 'quit')?.accelerator).toBe('CmdOrCtrl+Q');
    expect(items(template).find((i) => i.role === 'about')?.label).toBe('About Hookscope');
  });

  it('sends each command to the renderer, and every command is one the contract knows', () => {
    const { template, sent } = build('linux', true);
    for (const item of items(template)) item.click?.();
    expect(sent).toEqual(['open-session', 'launch', 'open-policy', 'export']);
    expect([...sent].sort()).toEqual([...MENU_COMMANDS].sort());
  });

  it('a release has no reload and no developer tools; a development build has both', () => {
    const roles = (packaged: boolean) =>
      items(build('linux', packaged).template).map((i) => i.role);
    expect(roles(true)).not.toContain('reload');
    expect(roles(true)).not.toContain('toggleDevTools');
    expect(roles(true)).toEqual(expect.arrayContaining(['zoomIn', 'zoomOut', 'resetZoom']));
    expect(roles(false)).toEqual(expect.arrayContaining(['reload', 'toggleDevTools']));
  });

  it('on macOS the app menu comes first and holds Quit', () => {
    const { template } = build('darwin', true);
    expect(template[0]).toEqual({ role: 'appMenu' });
    expect(template.map((m) => m.role).filter(Boolean)).toEqual(['appMenu', 'windowMenu']);
    expect((template[1]?.submenu ?? []).some((i) => i.role === 'quit')).toBe(false);
  });
});
