/**
 * The schema in force before any policy set is stored: the Gatehouse entity model, the same text
 * as examples/policies/schema.cedarschema (a test keeps them equal). With no policies, everything
 * is denied.
 */
export const BASE_SCHEMA = `// The Gatehouse entity model. Users and clients come from the Gatehouse store; the request
// context is built by the PDP (time from its clock, network zone from policy.networks).
namespace Gatehouse {
  entity Role;
  entity Group in [Group];

  // A person; roles and groups are its parents, its attributes are string tags
  // (principal.hasTag("department") && principal.getTag("department") == "sales").
  entity User in [Role, Group] {
    username?: String,
    disabled: Bool,
  } tags String;

  // An OAuth client or API key acting for itself.
  entity Client {
    scopes: Set<String>,
  };

  // A gateway route (id = route id).
  entity Route {
    method: String,
    path: String,
    service: String,
  };

  // Something a service owns, described by the caller.
  entity Document {
    owner?: String,
    classification?: String,
  };

  // Time of the decision (UTC); weekday 0 = Sunday.
  type Time = { hour: Long, minute: Long, weekday: Long };
  // The caller's address and the zone of policy.networks it falls in ("external" when none).
  type Network = { ip: ipaddr, zone: String };
  type Device = { id?: String, managed: Bool, platform?: String };
  type RequestContext = {
    time: Time,
    network?: Network,
    // 0 (no risk) to 100.
    risk?: Long,
    // 0 none, 1 one factor, 2 two factors, 3 phishing-resistant.
    mfa: Long,
    device?: Device,
  };

  action "read", "write", "delete", "admin" appliesTo {
    principal: [User, Client],
    resource: [Route, Document],
    context: RequestContext,
  };
}
`;
