// What each role may use, mirrored from daemon/auth/permissions.cpp so the
// console shows only what the signed-in role can do. The server enforces the
// same table on every request anyway.

const ROLE_PERMISSIONS = {
  admin: ['authenticated', 'users.read', 'users.manage', 'tokens.manage_all', 'metrics.read', 'audit.read',
    'hostaudit.read', 'hostaudit.run', 'incidents.read', 'incidents.manage', 'backup.read', 'backup.manage',
    'records.read', 'records.write', 'wallet.issue', 'wallet.manage'],
  operator: ['authenticated', 'metrics.read', 'hostaudit.read', 'hostaudit.run', 'incidents.read', 'incidents.manage',
    'backup.read', 'backup.manage'],
  auditor: ['authenticated', 'users.read', 'audit.read', 'hostaudit.read', 'incidents.read', 'metrics.read'],
  issuer: ['authenticated', 'records.read', 'records.write', 'wallet.issue'],
  support: ['authenticated', 'records.read'],
};

export const ROLES = Object.keys(ROLE_PERMISSIONS);

export const ROLE_DESCRIPTIONS = {
  admin: 'Everything, including users and settings.',
  operator: 'Backups, host audit and incidents; no users, no customer data.',
  auditor: 'Read only: audit log, host-audit findings, incidents and the user list.',
  issuer: 'Recipients and results; issues credentials while the wallet is unlocked.',
  support: 'Reads customer data, each time with a stated reason.',
};

export function can(role, permission) {
  if (!permission) return true;
  const perms = ROLE_PERMISSIONS[role] || [];
  if (Array.isArray(permission)) return permission.some((p) => perms.includes(p));
  return perms.includes(permission);
}

// A role may hand out (e.g. to an API token) only roles whose permissions it has.
export function covers(role, other) {
  return (ROLE_PERMISSIONS[other] || []).every((p) => can(role, p));
}
