import type { LambdaRoute } from './lambda-config.js';

export type RouteMatch = { route: LambdaRoute } | { error: string };

/**
 * Finds the route of a record. The route message attribute, set by the API Gateway
 * integration, decides when present: with groups taken from a request header, the group
 * id alone cannot say where a message goes. Without it (a queue fed by other producers),
 * the message group id decides: an exact id listed in a route's `groups`, then a route of
 * that name, then the longest matching `prefix*`.
 */
export class RouteTable {
  private readonly byName = new Map<string, LambdaRoute>();
  private readonly byGroup = new Map<string, LambdaRoute>();
  private readonly prefixes: Array<{ prefix: string; route: LambdaRoute }> = [];

  constructor(routes: readonly LambdaRoute[]) {
    for (const route of routes) {
      this.byName.set(route.name, route);
      for (const group of route.groups) {
        if (group.endsWith('*')) this.prefixes.push({ prefix: group.slice(0, -1), route });
        else this.byGroup.set(group, route);
      }
    }
    this.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  find(routeAttribute: string | undefined, groupId: string): RouteMatch {
    if (routeAttribute !== undefined) {
      const route = this.byName.get(routeAttribute);
      return route
        ? { route }
        : {
            error: `the route attribute names "${routeAttribute}", which HOOKQ_ROUTES does not list`,
          };
    }
    const route =
      this.byGroup.get(groupId) ??
      this.byName.get(groupId) ??
      this.prefixes.find(({ prefix }) => groupId.startsWith(prefix))?.route;
    return route
      ? { route }
      : {
          error: `no route attribute, and no route in HOOKQ_ROUTES takes message group "${groupId}"`,
        };
  }
}
