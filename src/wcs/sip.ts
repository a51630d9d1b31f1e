/**
 * SIP distortion polynomials (Shupe et al. 2005): f(u, v) = Σ c[p][q] u^p v^q over p + q ≤ order,
 * with u, v pixel offsets from CRPIX. Every term is summed, including order 0 and 1, as
 * astrometry.net's sip.c does.
 */
import type { FitsHeader } from '../fits/index.js';

export interface SipPolynomial {
  order: number;
  /** coefficients[p][q] multiplies u^p v^q. */
  coefficients: number[][];
}

/** The `<prefix>_p_q` terms of a header, or undefined when `<prefix>_ORDER` is absent. */
export function readPolynomial(header: FitsHeader, prefix: 'A' | 'B' | 'AP' | 'BP'): SipPolynomial | undefined {
  const order = header.get(`${prefix}_ORDER`);
  if (typeof order !== 'number' || !Number.isInteger(order) || order < 0) return undefined;
  const coefficients = Array.from({ length: order + 1 }, (_, p) =>
    Array.from({ length: order + 1 }, (_, q) => (p + q <= order ? header.number(`${prefix}_${p}_${q}`, 0) : 0)),
  );
  return { order, coefficients };
}

export function evaluate(poly: SipPolynomial, u: number, v: number): number {
  let sum = 0;
  let up = 1;
  for (let p = 0; p <= poly.order; p++) {
    let vq = 1;
    const row = poly.coefficients[p] as number[];
    for (let q = 0; q + p <= poly.order; q++) {
      sum += (row[q] as number) * up * vq;
      vq *= v;
    }
    up *= u;
  }
  return sum;
}

/** ∂f/∂u and ∂f/∂v at (u, v). */
export function gradient(poly: SipPolynomial, u: number, v: number): [number, number] {
  let du = 0;
  let dv = 0;
  for (let p = 0; p <= poly.order; p++) {
    for (let q = 0; q + p <= poly.order; q++) {
      const c = (poly.coefficients[p] as number[])[q] as number;
      if (c === 0) continue;
      if (p > 0) du += c * p * u ** (p - 1) * v ** q;
      if (q > 0) dv += c * q * u ** p * v ** (q - 1);
    }
  }
  return [du, dv];
}
