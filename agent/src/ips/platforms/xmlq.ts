/** The one helper config.xml lists need beyond agent/src/xml: every element at a path whose last step repeats. */
import { at, childrenOf, type XmlElement } from '../../xml/xml.ts';

/** all(ids, 'rules/rule'): the `rule` children of the first `rules` element. */
export function all(el: XmlElement | undefined, path: string): XmlElement[] {
  const steps = path.split('/').filter((s) => s !== '');
  const last = steps.pop();
  return last === undefined ? [] : childrenOf(at(el, steps.join('/')), last);
}
