import { describe, expect, it } from 'vitest';
import { STEPS, canVisit, indexOf, isStepId, nextStep, previousStep, stepState } from './steps';

describe('steps', () => {
  it('are the ten steps of the design, in order', () => {
    expect(STEPS).toHaveLength(10);
    expect(STEPS[0]).toBe('welcome');
    expect(STEPS[9]).toBe('dashboard');
  });

  it('move forward and back one at a time, stopping at the ends', () => {
    expect(nextStep('welcome')).toBe('provider');
    expect(previousStep('provider')).toBe('welcome');
    expect(previousStep('welcome')).toBeNull();
    expect(nextStep('dashboard')).toBeNull();
    for (const step of STEPS.slice(1)) {
      const before = previousStep(step);
      expect(before).not.toBeNull();
      expect(nextStep(before!)).toBe(step);
    }
  });

  it('can be revisited up to the furthest reached, not beyond', () => {
    expect(canVisit('welcome', 'check')).toBe(true);
    expect(canVisit('check', 'check')).toBe(true);
    expect(canVisit('domain', 'check')).toBe(false);
  });

  it('look done, current, available or locked in the sidebar', () => {
    expect(stepState('welcome', 'connect', 'check')).toBe('done');
    expect(stepState('connect', 'connect', 'check')).toBe('current');
    expect(stepState('check', 'connect', 'check')).toBe('available');
    expect(stepState('domain', 'connect', 'check')).toBe('locked');
  });

  it('tick a step only when its work is done, not for being visited', () => {
    const done = (step: string) => step !== 'certificate' && step !== 'test-email';
    expect(stepState('certificate', 'dashboard', 'dashboard', done)).toBe('available');
    expect(stepState('test-email', 'dashboard', 'dashboard', done)).toBe('available');
    expect(stepState('dns', 'dashboard', 'dashboard', done)).toBe('done');
  });

  it('recognise their own names only', () => {
    expect(isStepId('test-email')).toBe(true);
    expect(isStepId('testEmail')).toBe(false);
    expect(isStepId(3)).toBe(false);
    expect(indexOf('dns')).toBe(6);
  });
});
