import { classifyFailure, failureStage, isDatabaseUnavailable, PoisonEventError } from './failure';

const pgError = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code });

describe('classifyFailure', () => {
  it('calls data the event carries permanent', () => {
    expect(classifyFailure(pgError('22008'))).toBe('permanent'); // datetime field overflow
    expect(classifyFailure(pgError('22P02'))).toBe('permanent'); // invalid text representation
    expect(classifyFailure(pgError('22003'))).toBe('permanent'); // numeric value out of range
    expect(classifyFailure(pgError('54000'))).toBe('permanent'); // program limit (index row too large)
    expect(classifyFailure(new PoisonEventError('bad', 'rule'))).toBe('permanent');
    expect(failureStage(new PoisonEventError('bad', 'rule'))).toBe('rule');
    expect(failureStage(pgError('22008'))).toBe('store');
  });

  it('calls outages, conflicts and anything unproven transient, so nothing is skipped by mistake', () => {
    for (const code of ['57P03', '57P01', '08006', '40001', '40P01', '53300', '42P01', 'ECONNREFUSED', 'ETIMEDOUT'])
      expect(classifyFailure(pgError(code))).toBe('transient');
    // Our own schema's constraints (a NOT NULL column a migration added, a CHECK): a deploy bug, not the event's.
    for (const code of ['23502', '23503', '23505', '23514', '22004', '22012', '22023']) expect(classifyFailure(pgError(code))).toBe('transient');
    expect(classifyFailure(new Error('Connection terminated unexpectedly'))).toBe('transient');
    expect(classifyFailure(undefined)).toBe('transient');
  });
});

describe('isDatabaseUnavailable', () => {
  it('recognises a restarting or unreachable Postgres, not a wrong query', () => {
    expect(isDatabaseUnavailable(pgError('57P03'))).toBe(true);
    expect(isDatabaseUnavailable(pgError('ECONNREFUSED'))).toBe(true);
    expect(isDatabaseUnavailable(pgError('08006'))).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailable(pgError('42P01'))).toBe(false);
    expect(isDatabaseUnavailable(pgError('22008'))).toBe(false);
  });
});
