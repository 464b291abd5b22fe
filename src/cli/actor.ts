/** Who ran a CLI command, as the journal's `actor` names them beside the admin API's callers. */
import os from 'node:os';

/** Who ran the CLI, as the journal names them: `cli:<login>`. */
export function cliActor(): string {
  try {
    return `cli:${os.userInfo().username}`;
  } catch {
    // A container's uid may have no passwd entry.
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}
