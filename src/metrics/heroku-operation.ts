/**
 * Heroku request paths as bounded metric label values: `GET /teams/acme/addons` becomes
 * `GET /teams/{team}/addons`. A label value must never carry a team, app or add-on name or id
 * (unbounded cardinality, and names are the customers' own), so the rule is built to fail closed:
 * a segment stays literal only if it is one of the Platform API's fixed path words AND stands
 * where such a word belongs; everything else becomes a placeholder.
 */

/**
 * Every fixed path word of the Heroku Platform API (the literal segments of the links in its
 * JSON hyper-schema). A word not listed here is never emitted, whatever its position.
 */
const PATH_WORDS: ReadonlySet<string> = new Set([
  'accept', 'account', 'acm', 'actions', 'addon-attachments', 'addon-region-capabilities', 'addon-services',
  'addons', 'allowed-addon-services', 'app-setups', 'app-transfers', 'apps', 'archives', 'authorizations',
  'available-dyno-sizes', 'available-generations', 'available-stacks', 'build-cache', 'buildpack-installations',
  'builds', 'clients', 'collaborators', 'config', 'config-vars', 'confirm', 'credits', 'daily', 'delinquency',
  'deprovision', 'domains', 'dyno-sizes', 'dynos', 'enterprise-accounts', 'events', 'features', 'filters',
  'finalize', 'formation', 'formations', 'generations', 'identity-providers', 'inbound-ruleset',
  'inbound-rulesets', 'invitations', 'invoice-address', 'invoices', 'keys', 'latest-builds',
  'latest-deployments', 'latest-releases', 'log-drains', 'log-sessions', 'members', 'monthly', 'nat', 'oauth',
  'oci-images', 'password-resets', 'peering-info', 'peerings', 'permissions', 'pipeline-couplings',
  'pipeline-promotions', 'pipeline-stack', 'pipeline-transfers', 'pipelines', 'plans', 'preferences',
  'promotion-targets', 'provision', 'rate-limits', 'recover', 'regenerate-tokens', 'region-capabilities',
  'regions', 'releases', 'resolve', 'review-app', 'review-app-config', 'review-apps', 'rotate-credentials',
  'schema', 'slugs', 'sms-number', 'sni-endpoints', 'sources', 'spaces', 'stacks', 'stage', 'stop', 'teams',
  'telemetry-drains', 'test-cases', 'test-nodes', 'test-runs', 'tokens', 'topology', 'transfer', 'usage',
  'users', 'vpn-connections', 'webhook-deliveries', 'webhook-events', 'webhooks',
]);

/**
 * Paths mostly alternate `collection/{identity}`. These words are followed by another fixed word
 * instead (`/account/rate-limits`, `/addons/{addon}/actions/provision`, `/teams/apps/{app}`).
 */
const STATIC_AFTER: Readonly<Record<string, ReadonlySet<string>>> = {
  account: new Set(['app-transfers', 'credits', 'delinquency', 'features', 'invoice-address', 'invoices', 'keys', 'rate-limits']),
  actions: new Set(['addon-attachments', 'addons', 'deprovision', 'provision', 'stop', 'regenerate-tokens', 'rotate-credentials', 'finalize', 'accept', 'confirm', 'recover']),
  oauth: new Set(['authorizations', 'clients', 'tokens']),
  teams: new Set(['apps', 'invitations', 'permissions']),
  filters: new Set(['apps']),
  usage: new Set(['daily', 'monthly']),
  'sms-number': new Set(['actions']),
  // `POST /actions/addons/resolve`
  addons: new Set(['resolve']),
  'addon-attachments': new Set(['resolve']),
};

const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * `METHOD /path/template` for a Heroku request, e.g. `PATCH /apps/{app}/config-vars`. Pure; the
 * query string is dropped, identities become `{<singular of the collection>}` (`{id}` where no
 * collection names them), and the method is one of the HTTP verbs or `OTHER`.
 */
export function herokuOperation(method: string, path: string): string {
  const verb = method.toUpperCase();
  const segments = (path.split(/[?#]/, 1)[0] ?? '').split('/').filter((s) => s !== '');
  const out: string[] = [];
  let previousWord: string | null = null;
  // After a fixed word an identity is expected, after an identity a fixed word.
  let expectIdentity = false;
  for (const segment of segments) {
    const word = segment.toLowerCase();
    const fixed = PATH_WORDS.has(word) && (!expectIdentity || (previousWord !== null && STATIC_AFTER[previousWord]?.has(word) === true));
    if (fixed) {
      out.push(word);
      previousWord = word;
      expectIdentity = true;
    } else {
      out.push(expectIdentity && previousWord !== null ? `{${singular(previousWord)}}` : '{id}');
      previousWord = null;
      expectIdentity = false;
    }
  }
  return `${METHODS.has(verb) ? verb : 'OTHER'} /${out.join('/')}`;
}

function singular(word: string): string {
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('sses')) return word.slice(0, -2);
  return word.endsWith('s') ? word.slice(0, -1) : word;
}
