"""
Renders an OPNsense configd template the way configd does (Jinja2, trim_blocks, the `do` and
`loopcontrols` extensions, a `helpers` object), with a stub of the helpers the conegate templates use.
argv: template dir, template name, JSON of the config.xml tree (as OPNsense's template engine sees it:
nested dicts of strings). Prints the rendered text. Used by test/packages/opnsense.test.ts.
"""
import json
import sys

import jinja2


class Helpers:
    def __init__(self, data):
        self._data = data

    def _node(self, tag):
        node = self._data
        for part in tag.split('.'):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def exists(self, tag):
        return self._node(tag) is not None

    def empty(self, tag):
        node = self._node(tag)
        return node is None or node == '' or node == '0'

    def physical_interface(self, name):
        # config.xml <interfaces><lan><if>igb1</if>: the stub's devices are in data['interfaces'].
        return self._data.get('interfaces', {}).get(name, {}).get('if', name)


def main():
    folder, name, data = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(folder), trim_blocks=True,
                             extensions=['jinja2.ext.do', 'jinja2.ext.loopcontrols'],
                             undefined=jinja2.StrictUndefined if '--strict' in sys.argv else jinja2.Undefined)
    sys.stdout.write(env.get_template(name).render(dict(data, helpers=Helpers(data))))


main()
