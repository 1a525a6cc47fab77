// The wizard's steps and the rules for moving between them. Pure functions: the state that
// uses them lives in wizard.svelte.ts, and the tests in steps.test.ts.

/** Step identifiers, in order. The Rust engine's `profile::Step` serializes to these names. */
export const STEPS = [
  'welcome',
  'provider',
  'connect',
  'check',
  'domain',
  'install',
  'dns',
  'certificate',
  'test-email',
  'dashboard',
] as const;

export type StepId = (typeof STEPS)[number];

/** 0-based position of a step. */
export function indexOf(step: StepId): number {
  return STEPS.indexOf(step);
}

/** The step after `step`, or null on the last one. */
export function nextStep(step: StepId): StepId | null {
  return STEPS[indexOf(step) + 1] ?? null;
}

/** The step before `step`, or null on the first one. */
export function previousStep(step: StepId): StepId | null {
  const index = indexOf(step);
  return index > 0 ? (STEPS[index - 1] ?? null) : null;
}

/** Whether the user may jump to `step` from the sidebar: any step up to the furthest reached. */
export function canVisit(step: StepId, reached: StepId): boolean {
  return indexOf(step) <= indexOf(reached);
}

/** How a step looks in the sidebar. */
export type StepState = 'done' | 'current' | 'available' | 'locked';

/** A step is ticked as done only when `done(step)` says its work is: passing through is not
 * enough. */
export function stepState(
  step: StepId,
  current: StepId,
  reached: StepId,
  done: (step: StepId) => boolean = () => true,
): StepState {
  if (step === current) return 'current';
  if (!canVisit(step, reached)) return 'locked';
  return indexOf(step) < indexOf(current) && done(step) ? 'done' : 'available';
}

export function isStepId(value: unknown): value is StepId {
  return typeof value === 'string' && (STEPS as readonly string[]).includes(value);
}
