/**
 * Heroku user accounts of the fake and their team memberships, with the representations the
 * Platform API serves for them: `#/definitions/account` (`GET /account`) and
 * `#/definitions/team-member` (`GET /teams/{team}/members`). Every declared property is served and
 * none other (`account` has `strictProperties`; `team-member` forbids additional properties).
 *
 * Seeded by tests (`fake.addUser`, `fake.setTeamRole`); a user signs in through the fake's OAuth
 * web flow (`identity.ts`), and the Platform API then answers as that user (`server.ts`).
 */
import { randomUUID } from 'node:crypto';
import { NotFound, now } from './state.js';
import type { FakeState, IdName, TeamRole } from './state.js';

/** `#/definitions/account` */
export interface Account {
  allow_tracking: boolean;
  beta: boolean;
  created_at: string;
  email: string;
  federated: boolean;
  id: string;
  identity_provider: null;
  last_login: string | null;
  name: string | null;
  sms_number: string | null;
  suspended_at: string | null;
  delinquent_at: string | null;
  two_factor_authentication: boolean;
  updated_at: string;
  verified: boolean;
  country_of_residence: string | null;
  default_organization: IdName | null;
  default_team: IdName | null;
}

/** `#/definitions/team-member` */
export interface TeamMember {
  created_at: string;
  email: string;
  federated: boolean;
  /** The membership's id (not the account's: that is `user.id`). */
  id: string;
  identity_provider: null;
  role: TeamRole;
  two_factor_authentication: boolean;
  updated_at: string;
  user: { email: string; id: string; name: string | null };
}

export const TEAM_ROLES: readonly TeamRole[] = ['admin', 'collaborator', 'member', 'owner', 'viewer'];

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export interface AccountRec {
  id: string;
  email: string;
  name: string | null;
  createdAt: string;
  updatedAt: string;
  lastLogin: string | null;
}

export interface MembershipRec {
  id: string;
  teamId: string;
  accountId: string;
  role: TeamRole;
  createdAt: string;
  updatedAt: string;
}

/** The account the controller's own token (`fake.token`) belongs to; a member of no team. */
const OPERATOR_EMAIL = 'controller@heroku-fake.example.com';

export class FakeAccounts {
  private readonly accounts = new Map<string, AccountRec>();
  private readonly byEmail = new Map<string, AccountRec>();
  /** team id → account id → membership */
  private readonly memberships = new Map<string, Map<string, MembershipRec>>();
  /** The operator token's account: answered by `GET /account`, never listed as a member. */
  readonly operator: AccountRec;

  constructor(private readonly state: FakeState) {
    const ts = now();
    this.operator = { id: randomUUID(), email: OPERATOR_EMAIL, name: 'heroku-s3-controller', createdAt: ts, updatedAt: ts, lastLogin: null };
  }

  /** A new account. Emails are unique (compared case-insensitively, as Heroku does). */
  addUser(o: { email: string; name?: string | null; id?: string }): AccountRec {
    if (!EMAIL.test(o.email)) throw new Error(`email ${o.email} is not an email address`);
    const key = o.email.toLowerCase();
    if (this.byEmail.has(key) || key === OPERATOR_EMAIL) throw new Error(`user ${o.email} exists`);
    const id = o.id ?? randomUUID();
    if (this.accounts.has(id) || id === this.operator.id) throw new Error(`user id ${id} exists`);
    const ts = now();
    const rec: AccountRec = { id, email: o.email, name: o.name ?? null, createdAt: ts, updatedAt: ts, lastLogin: null };
    this.accounts.set(id, rec);
    this.byEmail.set(key, rec);
    return rec;
  }

  /** An account by email (any case) or id; 404 `not_found` through the API. */
  user(ref: string): AccountRec {
    const a = this.accounts.get(ref) ?? this.byEmail.get(ref.toLowerCase());
    if (!a) throw new NotFound('user');
    return a;
  }

  /** Whether an email (any case) or id names an account. */
  hasUser(ref: string): boolean {
    return this.accounts.has(ref) || this.byEmail.has(ref.toLowerCase());
  }

  /**
   * Sets the user's role in the team (adding the membership), or with `null` removes them from it.
   * Returns the membership, or null after a removal.
   */
  setTeamRole(teamRef: string, userRef: string, role: TeamRole | null): MembershipRec | null {
    const team = this.state.team(teamRef);
    const user = this.user(userRef);
    if (role !== null && !TEAM_ROLES.includes(role)) throw new Error(`role ${String(role)} is not one of ${TEAM_ROLES.join(', ')}`);
    let members = this.memberships.get(team.id);
    if (role === null) {
      members?.delete(user.id);
      return null;
    }
    if (!members) this.memberships.set(team.id, (members = new Map()));
    const existing = members.get(user.id);
    const ts = now();
    if (existing) {
      existing.role = role;
      existing.updatedAt = ts;
      return existing;
    }
    const rec: MembershipRec = { id: randomUUID(), teamId: team.id, accountId: user.id, role, createdAt: ts, updatedAt: ts };
    members.set(user.id, rec);
    return rec;
  }

  /** The user's role in the team (name or id), or null when not a member. */
  roleIn(teamId: string, accountId: string): TeamRole | null {
    return this.memberships.get(teamId)?.get(accountId)?.role ?? null;
  }

  /** The team's memberships (team name or id); unknown team → NotFound. */
  members(teamRef: string): MembershipRec[] {
    const team = this.state.team(teamRef);
    return [...(this.memberships.get(team.id)?.values() ?? [])];
  }

  /** Ids of the teams the account is a member of (teams that still exist). */
  teamIdsOf(accountId: string): Set<string> {
    const out = new Set<string>();
    for (const [teamId, members] of this.memberships) {
      if (members.has(accountId) && this.teamExists(teamId)) out.add(teamId);
    }
    return out;
  }

  /** Drops the memberships of a destroyed team. */
  forgetTeam(teamId: string): void {
    this.memberships.delete(teamId);
  }

  /** Records a sign-in (the account's `last_login`). */
  signedIn(accountId: string): void {
    const a = this.accounts.get(accountId);
    if (a) a.lastLogin = now();
  }

  // -- representations --

  accountJson(a: AccountRec): Account {
    return {
      allow_tracking: true,
      beta: false,
      created_at: a.createdAt,
      email: a.email,
      federated: false,
      id: a.id,
      identity_provider: null,
      last_login: a.lastLogin,
      name: a.name,
      sms_number: null,
      suspended_at: null,
      delinquent_at: null,
      two_factor_authentication: false,
      updated_at: a.updatedAt,
      verified: true,
      country_of_residence: null,
      default_organization: null,
      default_team: null,
    };
  }

  memberJson(m: MembershipRec): TeamMember {
    const a = this.accounts.get(m.accountId)!;
    return {
      created_at: m.createdAt,
      email: a.email,
      federated: false,
      id: m.id,
      identity_provider: null,
      role: m.role,
      two_factor_authentication: false,
      updated_at: m.updatedAt,
      user: { email: a.email, id: a.id, name: a.name },
    };
  }

  private teamExists(teamId: string): boolean {
    try {
      this.state.team(teamId);
      return true;
    } catch {
      return false;
    }
  }
}
