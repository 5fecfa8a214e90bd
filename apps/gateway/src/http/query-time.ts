import { ATTRIBUTE_RULES } from '@tributary/contracts/validate-event';

/**
 * A date-time query parameter, held to the rule event times are (RFC 3339, years 0001-9999 UTC)
 * and handed to Postgres as the instant in UTC, as ingest stores event times. Date.parse alone
 * takes '0.5' or '2020-01-01T00:00:00+23:59', which Postgres refuses as a timestamptz (22007,
 * 22009: a 500), and passing the text through would leave Postgres's parser to disagree with ours.
 */
export function queryTime(v: string): { iso: string; error?: undefined } | { iso?: undefined; error: string } {
  const error = ATTRIBUTE_RULES.time(v);
  return error ? { error } : { iso: new Date(v).toISOString() };
}
